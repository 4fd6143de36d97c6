/**
 * From `${secret:NAME}` references to values, at the last moment: the configuration keeps the references (so it can
 * be diffed, logged or shown), and only the copies handed to a wire or to the authorization server carry values.
 * ResolvedSecrets holds the values in a private field and prints as a count, so an accidental log of it shows none.
 */
import { inspect } from 'node:util';
import { ConfigError, type ConfigIssue } from '../config/error.js';
import { registerSecretValues } from '../core/scrub.js';
import { parseTemplate, secretRefsOf, templatedValues, type SecretRef, type TemplatePart } from '../config/secretRefs.js';
import type { GatewayConfig, UpstreamConfig } from '../config/types.js';
import { isVaultError } from './errors.js';
import { keyProviderFor } from './keyProviders.js';
import type { RecordStore } from '../storage/types.js';
import { Vault } from './vault.js';

/** The vault a configuration's references are read from: its storage, its key file or PORTCULLIS_VAULT_KEY. */
export function vaultFor(config: GatewayConfig, records: RecordStore): Vault {
  return new Vault(records, keyProviderFor({ dataDir: config.server.dataDir, keyFile: config.vault?.keyFile }));
}

export class ResolvedSecrets {
  readonly #values: ReadonlyMap<string, string>;

  private constructor(values: ReadonlyMap<string, string>) {
    this.#values = values;
  }

  static readonly none = new ResolvedSecrets(new Map());

  /**
   * Reads every secret the configuration refers to. Throws a ConfigError naming each reference that cannot be
   * resolved (missing secret, no key, wrong key, a value unusable where it is used), by line and column, never by
   * value. A configuration without references needs no vault (and `vault` is not called).
   */
  static async resolve(config: GatewayConfig, vault: () => Vault): Promise<ResolvedSecrets> {
    const { source, refs } = secretRefsOf(config);
    if (refs.length === 0) return ResolvedSecrets.none;
    const v = vault();
    const values = new Map<string, string>();
    const failed = new Map<string, string>();
    for (const ref of refs) {
      for (const part of ref.parts) {
        if (typeof part === 'string' || values.has(part.secret) || failed.has(part.secret)) continue;
        try {
          values.set(part.secret, await v.get(part.secret));
        } catch (e) {
          if (!isVaultError(e)) throw e;
          failed.set(part.secret, e.code === 'not-found' ? e.message : `secret "${part.secret}" cannot be read from the vault: ${e.message}`);
        }
      }
    }
    const issues: ConfigIssue[] = [];
    const resolved = new ResolvedSecrets(values);
    for (const ref of refs) {
      const names = ref.parts.flatMap((p) => (typeof p === 'string' ? [] : [p.secret]));
      const missing = names.filter((n) => failed.has(n));
      for (const n of new Set(missing)) issues.push(issue(ref, failed.get(n)!));
      const reason = missing.length ? undefined : unusable(ref, resolved.fill(ref.parts), names);
      if (reason) issues.push(issue(ref, reason));
    }
    if (issues.length) throw new ConfigError(source, issues);
    registerSecretValues(values.values());
    return resolved;
  }

  /** These values, with `newer`'s replacing them where both have a name. */
  merge(newer: ResolvedSecrets): ResolvedSecrets {
    return new ResolvedSecrets(new Map([...this.#values, ...newer.#values]));
  }

  get size(): number {
    return this.#values.size;
  }

  /**
   * A copy of one upstream's configuration with its headers and env filled in, for its wire only. `upstream` is the
   * templated configuration (secretRefs.ts): every value is filled, so escaped `$${` become `${` too.
   */
  fillUpstream(upstream: UpstreamConfig): UpstreamConfig {
    const u = upstream as UpstreamConfig & { headers?: Record<string, string>; env?: Record<string, string> };
    const filled = (values: Record<string, string> | undefined) => values && Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.fill(parseTemplate(v))]));
    const oauth = (u as { credentials?: { mode: string; oauth?: { clientSecret?: string } } }).credentials?.oauth;
    // The per-user OAuth client's secret (src/credentials) reaches only the upstream's token endpoint.
    const credentials = oauth?.clientSecret !== undefined ? { credentials: { ...(u as { credentials: object }).credentials, oauth: { ...oauth, clientSecret: this.fill(parseTemplate(oauth.clientSecret)) } } } : {};
    return { ...u, ...(u.headers ? { headers: filled(u.headers) } : {}), ...(u.env ? { env: filled(u.env) } : {}), ...credentials } as UpstreamConfig;
  }

  /** A copy of the configuration with the authorization server's client secrets filled in, for the identity layer only. */
  fillAuth(config: GatewayConfig): GatewayConfig {
    const mine = templatedValues(config).filter((t) => t.segs[0] === 'auth');
    if (mine.length === 0) return config;
    const auth = structuredClone(config.auth);
    for (const t of mine) {
      const entry = (auth.builtin[t.segs[2] as 'clients' | 'federation'] as { clientSecret?: string }[])[t.segs[3] as number];
      if (entry) entry.clientSecret = this.fill(parseTemplate(t.text));
    }
    return { ...config, auth };
  }

  /** The value of a template; every reference in it must have been resolved. */
  fill(parts: readonly TemplatePart[]): string {
    return parts.map((p) => {
      if (typeof p === 'string') return p;
      const v = this.#values.get(p.secret);
      // resolve() checked every reference; a miss means the caller mixed configurations up.
      if (v === undefined) throw new Error(`secret "${p.secret}" was not resolved`);
      return v;
    }).join('');
  }

  toJSON(): string {
    return `[${this.size} secrets]`;
  }

  [inspect.custom](): string {
    return `ResolvedSecrets [${this.size} secrets]`;
  }
}

/**
 * Why a filled-in value cannot go where it is referenced (without quoting it), or undefined. The schema saw only the
 * template, so what it says about the value is checked here.
 */
function unusable(ref: SecretRef, value: string, names: readonly string[]): string | undefined {
  const from = names.map((n) => `"${n}"`).join(', ');
  // A line break in a header would split the request (header injection); NUL cannot cross into an environment.
  if (ref.segs[2] === 'headers' && /[\r\n\0]/.test(value)) return `secret ${from} cannot be used in a header: it contains a line break or NUL`;
  if (/\0/.test(value)) return `secret ${from} cannot be used here: it contains a NUL byte`;
  // As the schema requires of a written confidential client secret (auth.builtin.clients[].clientSecret).
  if (ref.segs[2] === 'clients' && value.length < 32) return `a client secret must be at least 32 characters; secret ${from} is shorter`;
  return undefined;
}

function issue(ref: SecretRef, message: string): ConfigIssue {
  return { path: ref.path, ...(ref.line !== undefined ? { line: ref.line, column: ref.column ?? 1 } : {}), message };
}
