/** Rules JSON Schema cannot express: references between sections and security constraints across fields. */
import type { GatewayConfig, HttpUpstreamConfig, SseUpstreamConfig } from './types.js';
import { isLoopbackHost } from './loopback.js';
import type { PathIssue } from './paths.js';
import { closest } from './suggest.js';
import { parsePath } from './paths.js';
import { configPolicy } from './policy.js';
import { isPolicyError } from '../policy/errors.js';
import { nameGlob, splitTarget } from '../policy/glob.js';
import { SchemaCache } from '../validation/schemas.js';
import { monitoringIssues } from '../monitoring/config.js';

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

  const tls = cfg.server.tls;
  if (tls && tls.clientCertificates === 'none' && tls.clientCa !== undefined) {
    issues.push({ segs: ['server', 'tls', 'clientCertificates'], message: 'server.tls.clientCa is set: choose "optional" or "required" client certificates' });
  }
  if (tls && tls.clientCertificates !== 'none' && tls.clientCa === undefined) {
    issues.push({ segs: ['server', 'tls', 'clientCertificates'], message: `"${tls.clientCertificates}" needs server.tls.clientCa (the CA client certificates must chain to)` });
  }
  if (cfg.auth.mode === 'oauth') {
    const auth = cfg.auth;
    if (!auth.builtin.enabled && auth.issuers.length === 0 && !tls?.clientCa) {
      issues.push({ segs: ['auth', 'mode'], message: 'no way to authenticate: enable auth.builtin, list auth.issuers, or configure mutual TLS (server.tls.clientCa)' });
    }
    if (auth.mtls.requireBoundTokens && !tls?.clientCa) {
      issues.push({ segs: ['auth', 'mtls', 'requireBoundTokens'], message: 'certificate-bound tokens need mutual TLS (server.tls.clientCa)' });
    }
    // OAuth 2.1 requires TLS for every endpoint except loopback: tokens and codes must not cross a network in clear.
    const publicUrl = auth.publicUrl;
    if (publicUrl !== undefined && publicUrl.startsWith('http:') && !isLoopbackHost(new URL(publicUrl).hostname)) {
      issues.push({ segs: ['auth', 'publicUrl'], message: 'must be https unless it names a loopback address (OAuth 2.1 requires TLS beyond this machine)' });
    }
    if (publicUrl === undefined && !tls && !isLoopbackHost(cfg.server.host)) {
      issues.push({ segs: ['server', 'tls'], message: `serving OAuth on "${cfg.server.host}" without TLS: configure server.tls, or set auth.publicUrl to the https URL of a TLS-terminating proxy` });
    }
    const seen = new Set<string>();
    auth.issuers.forEach((iss, i) => {
      if (seen.has(iss.issuer)) issues.push({ segs: ['auth', 'issuers', i, 'issuer'], message: `issuer "${iss.issuer}" is listed twice` });
      seen.add(iss.issuer);
    });
    const fed = new Set<string>();
    auth.builtin.federation.forEach((f, i) => {
      if (fed.has(f.name)) issues.push({ segs: ['auth', 'builtin', 'federation', i, 'name'], message: `federated login "${f.name}" is listed twice` });
      fed.add(f.name);
    });
  }

  issues.push(...policyIssues(cfg), ...limitIssues(cfg), ...guardrailIssues(cfg), ...monitoringIssues(cfg.monitoring));

  for (const [name, up] of Object.entries(cfg.upstreams)) {
    for (const [tool, o] of Object.entries(up.tools)) {
      if (o.inputSchema === undefined) continue;
      const c = schemas.get(o.inputSchema);
      if (c?.error) issues.push({ segs: ['upstreams', name, 'tools', tool, 'inputSchema'], message: `not a usable JSON Schema: ${c.error}` });
    }
    if (up.transport !== 'stdio' && !up.allowPrivateNetworks) {
      const u = new URL(up.url);
      if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
        issues.push({ segs: ['upstreams', name, 'url'], message: `plain http is allowed only to a loopback address: use https, or set allowPrivateNetworks: true for a server on a private network` });
      }
    }
    if (up.transport !== 'stdio' && up.credentials && up.credentials.mode !== 'service') issues.push(...perUserIssues(name, up));
    if (up.transport !== 'stdio' && up.tls && (up.tls.cert === undefined) !== (up.tls.key === undefined)) {
      issues.push({ segs: ['upstreams', name, 'tls'], message: 'cert and key go together' });
    }
    if (up.transport === 'stdio' && up.restart.initialDelayMs > up.restart.maxDelayMs) {
      issues.push({
        segs: ['upstreams', name, 'restart', 'initialDelayMs'],
        message: `must not exceed restart.maxDelayMs (${up.restart.initialDelayMs} > ${up.restart.maxDelayMs})`,
      });
    }
    // Fail fast: an unsandboxed server under a configuration that requires isolation is a contradiction, not a fallback.
    if (up.transport === 'stdio' && up.sandbox?.mode === 'none' && cfg.sandbox?.requireIsolation !== false) {
      issues.push({ segs: ['upstreams', name, 'sandbox', 'mode'], message: '"none" runs the server unsandboxed: set sandbox.requireIsolation to false to allow that' });
    }
  }
  return issues;
}

/** Per-user credentials (src/credentials): an OAuth client to act as, and no static Authorization to mix with it. */
function perUserIssues(name: string, up: HttpUpstreamConfig | SseUpstreamConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const mode = up.credentials!.mode;
  if (up.transport !== 'http') issues.push({ segs: ['upstreams', name, 'credentials', 'mode'], message: `${mode} credentials need transport http (Streamable HTTP sets the token per request)` });
  if (!up.credentials?.oauth) issues.push({ segs: ['upstreams', name, 'credentials'], message: `${mode} credentials need oauth: { clientId, ... } (the gateway's client at the upstream's authorization server)` });
  if (Object.keys(up.headers).some((h) => h.toLowerCase() === 'authorization')) {
    issues.push({ segs: ['upstreams', name, 'headers'], message: `a static Authorization header cannot be combined with ${mode} credentials: each call carries its user's own token` });
  }
  return issues;
}

const schemas = new SchemaCache();

/** The policy compiled against the configured servers and tags; each problem at its place in the file. */
function policyIssues(cfg: GatewayConfig): PathIssue[] {
  try {
    configPolicy(cfg);
    return [];
  } catch (e) {
    if (!isPolicyError(e)) throw e;
    return e.issues.map((i) => ({
      segs: parsePath(i.path),
      message: i.rule !== undefined && !i.path.includes(i.rule) ? `rule "${i.rule}": ${i.message}` : i.message,
    }));
  }
}

/** Rate limits, quotas and priorities: what they name must exist, and each must limit something. */
function guardrailIssues(cfg: GatewayConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const servers = Object.keys(cfg.upstreams);
  const g = cfg.guardrails;
  const names = new Map<string, number>();
  g.custom.forEach((c, i) => {
    const first = names.get(c.name);
    if (first !== undefined || c.name === 'portcullis') issues.push({ segs: ['guardrails', 'custom', i, 'name'], message: first !== undefined ? `duplicate name (first used at guardrails.custom[${first}])` : '"portcullis" names the built-in guardrail' });
    names.set(c.name, i);
  });
  // A sink or source pattern that matches no server is a typo that would leave a flow unguarded.
  for (const key of ['sinks', 'untrustedSources'] as const) {
    g.taint[key].forEach((t, i) => {
      const parts = splitTarget(t);
      if (!parts) return;
      const glob = nameGlob(parts[0]);
      if (servers.some((s) => glob.test(s))) return;
      const guess = glob.literal !== undefined ? closest(parts[0], servers) : undefined;
      issues.push({ segs: ['guardrails', 'taint', key, i], message: `${glob.literal !== undefined ? 'unknown server' : 'pattern matches no server'} "${parts[0]}"${guess ? ` (did you mean "${guess}"?)` : ''}` });
    });
  }
  return issues;
}

function limitIssues(cfg: GatewayConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const servers = Object.keys(cfg.upstreams);
  const sections = [['rateLimits', cfg.rateLimits], ['quotas', cfg.quotas], ['priorities', cfg.priorities]] as const;
  for (const [section, rules] of sections) {
    const ids = new Map<string, number>();
    rules.forEach((r, i) => {
      const at = (...segs: (string | number)[]) => [section, i, ...segs];
      const id = (r as { id?: string }).id;
      if (id !== undefined) {
        const first = ids.get(id);
        if (first !== undefined) issues.push({ segs: at('id'), message: `duplicate id (first used at ${section}[${first}])` });
        ids.set(id, i);
      }
      const server = (pattern: string, segs: (string | number)[]) => {
        const g = nameGlob(pattern);
        if (servers.some((s) => g.test(s))) return;
        const guess = g.literal !== undefined ? closest(pattern, servers) : undefined;
        issues.push({ segs, message: `${g.literal !== undefined ? 'unknown server' : 'pattern matches no server'} "${pattern}"${guess ? ` (did you mean "${guess}"?)` : ''}` });
      };
      r.servers?.forEach((s, j) => server(s, at('servers', j)));
      r.tools?.forEach((t, j) => {
        const parts = splitTarget(t);
        if (parts) server(parts[0], at('tools', j));
      });
    });
  }
  cfg.rateLimits.forEach((r, i) => {
    if (r.requests === undefined && r.concurrency === undefined) issues.push({ segs: ['rateLimits', i], message: 'limits nothing: give requests (per perSeconds), concurrency, or both' });
    if (r.burst !== undefined && r.requests === undefined) issues.push({ segs: ['rateLimits', i, 'burst'], message: 'burst needs requests' });
  });
  cfg.quotas.forEach((q, i) => {
    if (q.daily === undefined && q.monthly === undefined) issues.push({ segs: ['quotas', i], message: 'limits nothing: give daily, monthly, or both' });
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: q.timezone });
    } catch {
      issues.push({ segs: ['quotas', i, 'timezone'], message: `unknown time zone "${q.timezone}"` });
    }
  });
  return issues;
}
