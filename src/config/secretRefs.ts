/**
 * `${secret:NAME}` references. Where they are allowed (upstream headers and env, the authorization server's client
 * secrets) a value with references is held as a *template*: `${secret:NAME}` stays as written and any other `${` in
 * the value is kept escaped as `$${`. A value there is a template exactly when it contains `${secret:` (the loader
 * refuses that text as a literal in those places); other values are final. The configuration can then be copied, compared, logged or shown without ever holding a
 * secret value, and the references are read back from the values themselves (so a copy of the configuration keeps
 * them). The vault (src/vault/resolve.ts) fills templates in only for the wire and the identity layer.
 */
import type { GatewayConfig } from './types.js';
import { formatPath, type Segment } from './paths.js';

/** What a secret name may be: letters, digits, "_", "-" and ".", starting with a letter or digit, at most 128. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A value as written: literal text and secret references, in order. */
export type TemplatePart = string | { secret: string };

export interface SecretRef {
  segs: readonly Segment[];
  /** Dotted form, for messages. */
  path: string;
  line?: number;
  column?: number;
  parts: readonly TemplatePart[];
}

export interface SecretRefs {
  /** The configuration file, for messages. */
  source: string;
  refs: readonly SecretRef[];
}

/** Where a reference is allowed: places that reach an upstream or a token endpoint, and are never shown or logged. */
export const SECRET_LOCATIONS = 'upstreams.<name>.headers, upstreams.<name>.env, upstreams.<name>.credentials.oauth.clientSecret, auth.builtin.clients[].clientSecret and auth.builtin.federation[].clientSecret';

export function secretAllowedAt(segs: readonly Segment[]): boolean {
  const [a, b, c, d, e] = segs;
  if (a === 'upstreams' && segs.length === 4) return c === 'headers' || c === 'env';
  if (a === 'upstreams' && segs.length === 5) return c === 'credentials' && d === 'oauth' && e === 'clientSecret';
  return segs.length === 5 && a === 'auth' && b === 'builtin' && (c === 'clients' || c === 'federation') && typeof d === 'number' && e === 'clientSecret';
}

/** Template text: references as written, every other `${` escaped. */
export function templateText(parts: readonly TemplatePart[]): string {
  return parts.map((p) => (typeof p === 'string' ? p.replaceAll('${', () => '$${') : `\${secret:${p.secret}}`)).join('');
}

/** Whether a value in a templated place is a template (else it is final, `${` and all). */
export function isTemplate(text: string): boolean {
  return text.includes('${secret:');
}

const TEMPLATE_TOKEN = /\$\$\{|\$\{secret:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})\}/g;

/** Undoes templateText. */
export function parseTemplate(text: string): TemplatePart[] {
  if (!isTemplate(text)) return text ? [text] : [];
  const parts: TemplatePart[] = [];
  let literal = '';
  let last = 0;
  for (const m of text.matchAll(TEMPLATE_TOKEN)) {
    literal += text.slice(last, m.index);
    last = m.index! + m[0].length;
    if (m[0] === '$${') literal += '${';
    else {
      if (literal) parts.push(literal);
      parts.push({ secret: m[1]! });
      literal = '';
    }
  }
  literal += text.slice(last);
  if (literal) parts.push(literal);
  return parts;
}

/** Every templated value of a configuration (with or without references), by path. */
export function templatedValues(config: GatewayConfig): { segs: Segment[]; text: string }[] {
  const out: { segs: Segment[]; text: string }[] = [];
  for (const [name, u] of Object.entries(config.upstreams ?? {})) {
    for (const section of ['headers', 'env'] as const) {
      const values = (u as { headers?: Record<string, string>; env?: Record<string, string> })[section];
      for (const [k, v] of Object.entries(values ?? {})) out.push({ segs: ['upstreams', name, section, k], text: v });
    }
    const oauth = (u as { credentials?: { oauth?: { clientSecret?: string } } }).credentials?.oauth;
    if (oauth?.clientSecret !== undefined) out.push({ segs: ['upstreams', name, 'credentials', 'oauth', 'clientSecret'], text: oauth.clientSecret });
  }
  for (const section of ['clients', 'federation'] as const) {
    (config.auth?.builtin?.[section] ?? []).forEach((c: { clientSecret?: string }, i: number) => {
      if (c.clientSecret !== undefined) out.push({ segs: ['auth', 'builtin', section, i, 'clientSecret'], text: c.clientSecret });
    });
  }
  return out;
}

/** Where the loader found each reference, for messages with line and column. */
const positions = new WeakMap<object, { source: string; at: ReadonlyMap<string, { line?: number; column?: number }> }>();

export function attachSecretPositions(config: object, source: string, at: ReadonlyMap<string, { line?: number; column?: number }>): void {
  positions.set(config, { source, at });
}

/** The references of a configuration, read from its values (positions when it is the loader's own object). */
export function secretRefsOf(config: GatewayConfig): SecretRefs {
  const known = positions.get(config);
  const refs: SecretRef[] = [];
  for (const { segs, text } of templatedValues(config)) {
    if (!isTemplate(text)) continue;
    const parts = parseTemplate(text);
    if (!parts.some((p) => typeof p !== 'string')) continue;
    const path = formatPath(segs);
    refs.push({ segs, path, ...known?.at.get(path), parts });
  }
  return { source: known?.source ?? '<config>', refs };
}

/** The distinct secret names a configuration refers to, sorted. */
export function secretNames(config: GatewayConfig): string[] {
  const names = new Set<string>();
  for (const r of secretRefsOf(config).refs) for (const p of r.parts) if (typeof p !== 'string') names.add(p.secret);
  return [...names].sort();
}
