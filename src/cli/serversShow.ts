/**
 * portcullis servers show [NAME]: the exact process each stdio server runs as, before it ever starts: the command
 * line (with the bubblewrap wrapper and limits), the names of its environment variables (never their values), its
 * folders and user; a server the configuration would refuse (allow-list, isolation) is shown with the reason.
 */
import type { GatewayConfig } from '../config/types.js';
import { formatPlan, planContext, planLaunch, SandboxRefusal } from '../upstream/sandbox/commandLine.js';
import { DEFAULT_SANDBOX } from '../upstream/sandbox/config.js';
import { effectiveRunAs, probeSandbox } from '../upstream/sandbox/probe.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export async function showServers(configPath: string | undefined, names: readonly string[]): Promise<number> {
  if (names.length > 1) throw new UsageError('show takes at most one server name');
  const config = await loadCliConfig(configPath);
  const [only] = names;
  if (only !== undefined && !config.upstreams[only]) throw new UsageError(`no upstream named "${only}" in the configuration`);
  const { text, refused } = await renderServers(config, only);
  process.stdout.write(text);
  return refused ? 1 : 0;
}

/** The text `servers show` prints (a refused server is marked REFUSED with the reason) and how many were refused. */
export async function renderServers(config: GatewayConfig, only?: string): Promise<{ text: string; refused: number }> {
  const probe = await probeSandbox(effectiveRunAs((config.sandbox ?? DEFAULT_SANDBOX).runAs));
  let refused = 0;
  let out = '';
  for (const [name, up] of Object.entries(config.upstreams)) {
    if (only !== undefined && name !== only) continue;
    if (up.transport !== 'stdio') {
      out += `${name}: ${up.transport} upstream at ${up.url} (no local process)\n\n`;
      continue;
    }
    try {
      const plan = planLaunch(name, up, planContext(config, probe));
      out += `${name}:\n${formatPlan(plan).map((l) => `  ${l}\n`).join('')}\n`;
    } catch (e) {
      if (!(e instanceof SandboxRefusal)) throw e;
      refused++;
      out += `${name}:\n  REFUSED: ${e.message}\n\n`;
    }
  }
  return { text: out, refused };
}
