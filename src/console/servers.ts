/**
 * The servers page: per upstream, whether its definitions are approved, every item it offers now with its pin state
 * and the gateway's admission verdict (quarantined or not), the drift from the pins (the same text as `portcullis
 * servers diff`), scan findings and name collisions. Approving pins exactly what was reviewed: the approval carries
 * the digest of the reviewed definitions and is refused when the server changed since.
 */
import { digest } from '../core/canonical.js';
import type { Gateway } from '../gateway.js';
import type { DefinitionItem } from '../integrity/definitions.js';
import { formatDrift } from '../integrity/drift.js';
import { itemId } from '../integrity/pins.js';
import { approveServer, fetchDefinitions, reviewServer } from '../integrity/review.js';
import { createScanner } from '../integrity/scanner.js';
import { ConsoleError } from './http.js';

export interface ServerItemView {
  kind: string;
  key: string;
  hash: string;
  pin: 'pinned' | 'changed' | 'new';
  admitted: boolean;
  /** Why it is quarantined or admitted with a warning. */
  reason?: string | undefined;
}

export interface ServerView {
  name: string;
  health: string;
  approved: boolean;
  approvedAt?: string | undefined;
  /** Digest of the definitions shown: what an approval of this review pins. */
  reviewDigest?: string | undefined;
  items: ServerItemView[];
  drift: Array<{ kind: string; key: string; classification: string; severity?: string | undefined; text: string }>;
  removed: string[];
  findings: Array<{ item: string; severity: string; rule: string; message: string; path: string }>;
  collisions: string[];
  error?: string | undefined;
}

const scanner = createScanner();

/** Every definition the upstream offers now (through the gateway's own connection). */
export async function definitionsOf(gw: Gateway, name: string): Promise<DefinitionItem[]> {
  const up = gw.upstreams.get(name);
  if (!up) throw new ConsoleError(404, `no upstream named "${name}"`);
  const conn = await up.acquire();
  return fetchDefinitions((m, p) => conn.request(m, p), conn.info?.capabilities);
}

/** What an approval pins: the items' kinds, keys and hashes, in a stable order. */
export function reviewDigest(items: readonly DefinitionItem[]): string {
  return digest(items.map((i) => [i.kind, i.key, i.hash]).sort((a, b) => (`${a[0]} ${a[1]}` < `${b[0]} ${b[1]}` ? -1 : 1)));
}

/** Reviews every upstream (they are fetched in parallel; a failing one is shown with its error). */
export async function reviewAll(gw: Gateway): Promise<ServerView[]> {
  const names = [...gw.upstreams.keys()];
  const fetched = new Map(await Promise.all(names.map(async (n) => [n, await definitionsOf(gw, n).catch((e: Error) => e.message)] as const)));
  const toolsOf = (n: string) => { const f = fetched.get(n); return Array.isArray(f) ? f.filter((i) => i.kind === 'tool').map((i) => i.key) : []; };
  const virtualServers = new Map(Object.entries(gw.config.virtualServers).map(([n, v]) => [n, v.upstreams]));
  await gw.admission.ready();
  const out: ServerView[] = [];
  for (const name of names) {
    const health = gw.upstreams.get(name)!.health;
    const current = fetched.get(name);
    if (!Array.isArray(current)) {
      out.push({ name, health, approved: false, items: [], drift: [], removed: [], findings: [], collisions: [], error: current ?? 'not fetched' });
      continue;
    }
    const others = new Map(names.filter((n) => n !== name).map((n) => [n, toolsOf(n)] as const));
    const review = await reviewServer(gw.storage.records, scanner, { server: name, current, others, virtualServers });
    const server = gw.admission.serverVerdict(name);
    const items = current.map((i): ServerItemView => {
      const pinned = review.pins?.items.get(itemId(i.kind, i.key));
      const v = server.ok ? gw.admission.judge(name, i.kind, i.definition) : server;
      return { kind: i.kind, key: i.key, hash: i.hash, pin: !pinned ? 'new' : pinned.hash === i.hash ? 'pinned' : 'changed', admitted: v.ok, reason: v.reason };
    });
    out.push({
      name, health, approved: review.pins !== undefined, approvedAt: review.pins?.approvedAt, reviewDigest: reviewDigest(current), items,
      drift: review.drift.filter((d) => d.classification !== 'removed').map((d) => ({ kind: d.kind, key: d.key, classification: d.classification, severity: d.severity, text: formatDrift(d) })),
      removed: review.drift.filter((d) => d.classification === 'removed').map((d) => `${d.kind} ${d.key}`),
      findings: review.findings.flatMap((f) => f.findings.map((x) => ({ item: `${f.item.kind} ${f.item.key}`, severity: x.severity, rule: x.rule, message: x.message, path: x.path }))),
      collisions: review.collisions,
    });
  }
  return out;
}

/**
 * Pins the server's current definitions, provided they are still the ones reviewed (`expectedDigest`); the gateway's
 * admission re-reads the pins at once.
 */
export async function approveReviewed(gw: Gateway, name: string, expectedDigest: string, approvedBy: string): Promise<{ items: number }> {
  const current = await definitionsOf(gw, name);
  if (reviewDigest(current) !== expectedDigest) throw new ConsoleError(409, `the definitions of ${name} changed since they were reviewed: review them again`);
  await approveServer(gw.storage.records, name, current, approvedBy);
  gw.admission.invalidate();
  return { items: current.length };
}
