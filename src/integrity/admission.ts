/**
 * Admission: every definition an upstream sends is hashed, scanned and compared with the operator's pins before the
 * gateway shows it to a client or forwards a use of it. The verdict for one item is one of
 *
 *   - pass:    the pinned definition (or, with `unapproved: warn`, any definition without block findings);
 *   - refuse:  hidden from lists and refused by name with the reason (PC_QUARANTINED): the server is unapproved
 *              (`unapproved: block`), the item changed since its pin (drift, unless it only tightens and
 *              `allowTightening` is on), the item is new since the approval, or a scan finding's action is `block`
 *              (always) or `quarantine` (until the definition is approved).
 *
 * Pins are read from storage in one piece and kept for PIN_TTL_MS, so `portcullis servers approve` on another
 * process takes effect within that time; verdicts are cached per (server, hash) until the pins change.
 */
import type { UpstreamIntegrityConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import type { RecordStore } from '../storage/types.js';
import type { DefinitionItem, DefinitionKind } from './definitions.js';
import { compareItems, formatDrift } from './drift.js';
import type { Finding } from './finding.js';
import { itemId, itemOf, readAllPins, type ServerPins } from './pins.js';
import { createScanner, type Scanner } from './scanner.js';

const PIN_TTL_MS = 1000;

export interface ItemVerdict {
  ok: boolean;
  /** Why the item is refused (or, when ok, what was warned about). */
  reason?: string;
}

export interface AdmissionDeps {
  records: RecordStore;
  log: Logger;
  /** The integrity settings of an upstream. */
  config(server: string): UpstreamIntegrityConfig | undefined;
  scanner?: Scanner;
  /**
   * Told of each definition judged afresh (once per server, item and hash), with the hash the operator pinned for it
   * (undefined: not pinned; null: the server has no pins): the anomaly detector's new and drifted tools.
   */
  onJudged?: (server: string, item: DefinitionItem, verdict: ItemVerdict, pinnedHash: string | null | undefined) => void;
}

export class Admission {
  private pins = new Map<string, ServerPins>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private fingerprint = '';
  private verdicts = new Map<string, ItemVerdict>();
  private knownTools = new Map<string, Set<string>>();
  private readonly scanner: Scanner;
  private readonly warnedUnapproved = new Set<string>();

  constructor(private readonly deps: AdmissionDeps) {
    this.scanner = deps.scanner ?? createScanner();
  }

  /** Makes sure the pins are at most PIN_TTL_MS old (one storage read for every server). */
  async ready(): Promise<void> {
    if (Date.now() - this.loadedAt < PIN_TTL_MS) return;
    this.loading ??= readAllPins(this.deps.records)
      .then((pins) => this.adopt(pins))
      .finally(() => { this.loading = undefined; });
    await this.loading;
  }

  /** Forgets the cached pins: the next check reads them again. */
  invalidate(): void {
    this.loadedAt = 0;
  }

  private adopt(pins: Map<string, ServerPins>): void {
    this.loadedAt = Date.now();
    const fp = [...pins.values()].map((p) => `${p.server}@${p.approvedAt}:${[...p.items.values()].map((i) => i.hash).join(',')}`).join(';');
    if (fp === this.fingerprint) return;
    this.fingerprint = fp;
    this.pins = pins;
    this.verdicts.clear();
    this.knownTools.clear();
  }

  /** Whether the upstream may be used at all (an unapproved server under `unapproved: block` may not). */
  serverVerdict(server: string): ItemVerdict {
    const cfg = this.deps.config(server);
    if (!cfg || this.pins.has(server) || cfg.unapproved === 'warn') return { ok: true };
    return { ok: false, reason: unapprovedReason(server) };
  }

  /** The verdict for one definition as the upstream sent it (call ready() first). */
  judge(server: string, kind: DefinitionKind, def: Readonly<Record<string, unknown>>): ItemVerdict {
    const cfg = this.deps.config(server);
    if (!cfg) return { ok: true };
    const item = itemOf(kind, def);
    if (!item) return { ok: false, reason: `${kind} definition without its identifying field` };
    const cacheKey = `${server}\u0000${item.kind}\u0000${item.key}\u0000${item.hash}`;
    let v = this.verdicts.get(cacheKey);
    if (!v) {
      v = this.evaluate(server, cfg, item);
      if (this.verdicts.size > 10_000) this.verdicts.clear();
      this.verdicts.set(cacheKey, v);
      this.deps.onJudged?.(server, item, v, this.pins.has(server) ? this.pins.get(server)!.items.get(itemId(item.kind, item.key))?.hash : null);
      if (!v.ok) this.deps.log.warn({ upstream: server, kind: item.kind, item: item.key, reason: v.reason }, 'integrity: item quarantined');
      else if (v.reason) this.deps.log.warn({ upstream: server, kind: item.kind, item: item.key, reason: v.reason }, 'integrity: item admitted with a warning');
    }
    return v;
  }

  private evaluate(server: string, cfg: UpstreamIntegrityConfig, item: DefinitionItem): ItemVerdict {
    const pins = this.pins.get(server);
    if (!pins && cfg.unapproved === 'block') return { ok: false, reason: unapprovedReason(server) };
    const pinned = pins?.items.get(itemId(item.kind, item.key));
    const approved = pinned !== undefined && pinned.hash === item.hash;
    const findings = this.scanner.scanDefinition(item, { knownTools: this.toolsOtherThan(server) });
    const warnings: string[] = [];
    // The same tool name on two servers: a host that merges them (or a model reading both lists) may call the wrong one.
    if (item.kind === 'tool' && this.toolsOtherThan(server).has(item.key)) warnings.push(`a tool named "${item.key}" is also offered by another approved server`);
    for (const f of findings) {
      const action = cfg.findings[f.severity];
      if (action === 'block') return { ok: false, reason: `${label(item)}: ${describe(f)} (blocked by integrity.findings.${f.severity})` };
      if (action === 'quarantine' && !approved) {
        return { ok: false, reason: `${label(item)}: ${describe(f)}; review it with "portcullis servers diff ${server}" and approve with "portcullis servers approve ${server}"` };
      }
      warnings.push(describe(f));
    }
    if (!pins) {
      if (!this.warnedUnapproved.has(server)) {
        this.warnedUnapproved.add(server);
        this.deps.log.warn({ upstream: server }, `integrity: ${server} has no approved pins (unapproved: warn); approve it with "portcullis servers approve ${server}"`);
      }
      return warnings.length ? { ok: true, reason: warnings.join('; ') } : { ok: true };
    }
    if (!approved) {
      const report = compareItems(pinned, item);
      if (!(report.classification === 'tightening' && cfg.allowTightening)) {
        const what = pinned ? `changed since it was approved (${report.classification}${report.severity ? `, ${report.severity}` : ''})` : 'new since the server was approved';
        const first = report.changes.filter((c) => !c.tightening).slice(0, 3).map((c) => c.note);
        return {
          ok: false,
          reason: `${label(item)} ${what}${first.length ? `: ${first.join('; ')}` : ''}; review with "portcullis servers diff ${server}" and approve with "portcullis servers approve ${server}"`,
        };
      }
      warnings.push(`only tightened since its pin:\n${formatDrift(report)}`);
    }
    return warnings.length ? { ok: true, reason: warnings.join('; ') } : { ok: true };
  }

  /** Tool names of every other pinned server, for the scanner's tool-shadowing rule. */
  private toolsOtherThan(server: string): Set<string> {
    let s = this.knownTools.get(server);
    if (!s) {
      s = new Set();
      for (const [name, p] of this.pins) {
        if (name === server) continue;
        for (const i of p.items.values()) if (i.kind === 'tool') s.add(i.key);
      }
      this.knownTools.set(server, s);
    }
    return s;
  }
}

export function unapprovedReason(server: string): string {
  return `server ${server} is not approved yet (integrity.unapproved: block); review it and run "portcullis servers approve ${server}"`;
}

function label(item: DefinitionItem): string {
  return `${item.kind === 'resourceTemplate' ? 'resource template' : item.kind} "${item.key}"`;
}

function describe(f: Finding): string {
  return `${f.severity} finding ${f.rule} at ${f.path || '(item)'}: ${f.message}`;
}
