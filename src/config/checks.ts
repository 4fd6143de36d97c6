/** Rules JSON Schema cannot express: references between sections and security constraints across fields. */
import type { GatewayConfig } from './types.js';
import { isLoopbackHost } from './loopback.js';
import type { PathIssue } from './paths.js';
import { closest } from './suggest.js';

export function crossCheck(cfg: GatewayConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const upstreamNames = Object.keys(cfg.upstreams);

  for (const [vname, vs] of Object.entries(cfg.virtualServers)) {
    vs.upstreams.forEach((name, i) => {
      if (Object.hasOwn(cfg.upstreams, name)) return;
      const guess = closest(name, upstreamNames);
      const hint = guess ? ` (did you mean "${guess}"?)` : upstreamNames.length ? ` (defined: ${upstreamNames.join(', ')})` : ' (no upstreams are defined)';
      issues.push({ segs: ['virtualServers', vname, 'upstreams', i], message: `unknown upstream "${name}"${hint}` });
    });
  }

  // Fail fast on security options: without authentication the gateway is only for this machine.
  if (cfg.auth.mode === 'none' && !isLoopbackHost(cfg.server.host)) {
    issues.push({
      segs: ['server', 'host'],
      message: `binding to "${cfg.server.host}" exposes the gateway beyond this machine; auth.mode "none" is allowed only on loopback (127.0.0.0/8, ::1, localhost)`,
    });
  }

  for (const [name, up] of Object.entries(cfg.upstreams)) {
    if (up.transport === 'stdio' && up.restart.initialDelayMs > up.restart.maxDelayMs) {
      issues.push({
        segs: ['upstreams', name, 'restart', 'initialDelayMs'],
        message: `must not exceed restart.maxDelayMs (${up.restart.initialDelayMs} > ${up.restart.maxDelayMs})`,
      });
    }
  }
  return issues;
}
