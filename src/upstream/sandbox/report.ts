/** What `portcullis check` says about the sandbox: what this machine isolates, and every stdio server it would refuse. */
import type { GatewayConfig } from '../../config/types.js';
import { planContext, planLaunch, SandboxRefusal } from './commandLine.js';
import { DEFAULT_SANDBOX } from './config.js';
import { describeProbe, effectiveRunAs, probeSandbox } from './probe.js';

export async function sandboxReport(config: GatewayConfig): Promise<{ text: string; refused: number }> {
  const stdio = Object.entries(config.upstreams).filter(([, u]) => u.transport === 'stdio');
  if (stdio.length === 0) return { text: '', refused: 0 };
  const probe = await probeSandbox(effectiveRunAs((config.sandbox ?? DEFAULT_SANDBOX).runAs));
  const lines = describeProbe(probe).map((l) => `sandbox: ${l}`);
  let refused = 0;
  for (const [name, up] of stdio) {
    if (up.transport !== 'stdio') continue;
    try {
      const plan = planLaunch(name, up, planContext(config, probe));
      for (const w of plan.warnings) lines.push(`sandbox: WARNING: ${w}`);
    } catch (e) {
      if (!(e instanceof SandboxRefusal)) throw e;
      refused++;
      lines.push(`sandbox: REFUSED: ${e.message}`);
    }
  }
  return { text: lines.map((l) => `${l}\n`).join(''), refused };
}
