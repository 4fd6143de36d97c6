/** Builds the wire for an upstream's configured transport; stdio servers start through the sandbox. */
import type { UpstreamConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import type { UpstreamWire } from './wire.js';
import { StdioWire } from './wires/stdio.js';
import { HttpWire } from './wires/http.js';
import { SseWire } from './wires/sse.js';
import { SandboxLauncher, type SandboxSettings } from './sandbox/launcher.js';
import type { SandboxProbe } from './sandbox/probe.js';

export function wireFactory(
  logger: Logger,
  settings: SandboxSettings,
  /** Tests only: what the machine supports, instead of probing it. */
  probe?: () => Promise<SandboxProbe>,
): (name: string, config: UpstreamConfig, authorization?: (rejected?: string) => Promise<string>) => UpstreamWire {
  const sandbox = new SandboxLauncher(settings, logger, probe);
  // Said at startup, not at the first failure: an operator must know before trusting the servers.
  if (Object.values(settings.upstreams ?? {}).some((u) => u.transport === 'stdio' && u.sandbox?.mode !== 'none')) void sandbox.announce().catch(() => {});
  return (name, config, authorization) => {
    const log = logger;
    switch (config.transport) {
      case 'stdio':
        return new StdioWire({ name, logger: log, command: config.command, args: config.args, env: config.env, ...(config.cwd ? { cwd: config.cwd } : {}), launch: () => sandbox.launch(name, config) });
      case 'http':
        return new HttpWire({ name, logger: log, url: config.url, headers: config.headers, ...(config.tls ? { tls: config.tls } : {}), allowPrivateNetworks: config.allowPrivateNetworks, ...(authorization ? { authorization } : {}) });
      case 'sse':
        // The configuration check refuses per-user credentials here; never fall back to sending no token.
        if (authorization) throw new Error(`upstream "${name}": per-user credentials need transport http`);
        return new SseWire({ name, logger: log, url: config.url, headers: config.headers, ...(config.tls ? { tls: config.tls } : {}), allowPrivateNetworks: config.allowPrivateNetworks });
    }
  };
}
