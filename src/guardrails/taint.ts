/**
 * Taint tracking for toxic flows. A session that has received untrusted content (prompt injection that was let
 * through flagged or wrapped, or any result of an untrusted source) or sensitive content (secrets or personal data
 * that were let through) is tainted; a call from it to a sink — a tool that can send data out or change the world —
 * then needs an approval or is refused (guardrails.taint.action).
 *
 * Marks live in the shared records (one record per scope and label, so concurrent marks from several replicas
 * never overwrite each other) and expire after ttlSeconds. The scope is the session; a stateless (2026) client has
 * none, so its scope is the principal together with the client's name.
 */
import { createHash } from 'node:crypto';
import type { RecordStore } from '../storage/types.js';
import type { PolicyResource } from '../policy/index.js';
import { nameGlob, type Glob } from '../policy/glob.js';
import type { TaintConfig } from './config.js';
import type { ReportedFinding } from './guardrail.js';

export type TaintLabel = 'untrusted' | 'sensitive';

export interface TaintMark {
  label: TaintLabel;
  /** Where it came from: "server/tool" or "server/uri". */
  source: string;
  /** The rules that found it, or "untrusted-source". */
  rules: string[];
  /** Epoch milliseconds. */
  at: number;
}

const NAMESPACE = 'guardrails:taint';

interface ToolGlob {
  server: Glob;
  tool: Glob;
}

function toolGlob(s: string): ToolGlob {
  const slash = s.indexOf('/');
  return { server: nameGlob(s.slice(0, slash)), tool: nameGlob(s.slice(slash + 1)) };
}

const matches = (globs: readonly ToolGlob[], server: string, tool: string) => globs.some((g) => g.server.test(server) && g.tool.test(tool));

export interface ScopeOf {
  sessionId?: string | undefined;
  principalKey?: string | undefined;
  clientName?: string | undefined;
}

export class TaintTracker {
  private readonly sinks: readonly ToolGlob[];
  private readonly sources: readonly ToolGlob[];
  private readonly sinkTags: ReadonlySet<string>;

  constructor(private readonly records: RecordStore, readonly config: TaintConfig) {
    this.sinks = config.sinks.map(toolGlob);
    this.sources = config.untrustedSources.map(toolGlob);
    this.sinkTags = new Set(config.sinkTags);
  }

  get enabled(): boolean {
    return this.config.action !== 'off';
  }

  /** A stable, fixed-length key for the conversation the marks belong to. */
  scope(s: ScopeOf): string {
    const raw = s.sessionId !== undefined ? `session\0${s.sessionId}` : `principal\0${s.principalKey ?? 'anonymous'}\0${s.clientName ?? ''}`;
    return createHash('sha256').update(raw).digest('base64url');
  }

  /** Why a tool is a sink (configured, tagged, open-world or possibly destructive), or undefined when it is not. */
  sinkReason(tool: PolicyResource): string | undefined {
    const name = tool.name ?? '';
    if (matches(this.sinks, tool.server, name)) return 'it is configured as a sink';
    if (tool.tags?.some((t) => this.sinkTags.has(t))) return 'it carries a sink tag';
    const a = tool.annotations ?? {};
    if (this.config.openWorld && a.openWorldHint !== false) return a.openWorldHint === true ? 'it is annotated openWorldHint' : 'it does not declare openWorldHint: false';
    if (this.config.destructive && a.readOnlyHint !== true && a.destructiveHint !== false) return a.destructiveHint === true ? 'it is annotated destructiveHint' : 'it is not declared read-only or non-destructive';
    return undefined;
  }

  isUntrustedSource(server: string, tool: string): boolean {
    return matches(this.sources, server, tool);
  }

  /** The marks a result leaves: what reached the client of what the guardrails found, and untrusted sources. */
  marksFor(findings: readonly ReportedFinding[], source: string, untrustedSource: boolean, now = Date.now()): TaintMark[] {
    const passed = findings.filter((f) => f.action === 'warn' || f.action === 'flag' || f.action === 'wrap');
    const rulesOf = (pred: (f: ReportedFinding) => boolean) => [...new Set(passed.filter(pred).map((f) => f.rule))];
    const marks: TaintMark[] = [];
    const injected = rulesOf((f) => f.category === 'injection');
    if (untrustedSource || injected.length) marks.push({ label: 'untrusted', source, rules: untrustedSource ? ['untrusted-source', ...injected] : injected, at: now });
    const sensitive = rulesOf((f) => f.category === 'secret' || f.category === 'personal-data');
    if (sensitive.length) marks.push({ label: 'sensitive', source, rules: sensitive, at: now });
    return marks;
  }

  async mark(scope: string, marks: readonly TaintMark[]): Promise<void> {
    const ttlMs = this.config.ttlSeconds * 1000;
    await Promise.all(marks.map((m) => this.records.put(NAMESPACE, `${scope}:${m.label}`, { ...m }, { ttlMs })));
  }

  async marks(scope: string): Promise<TaintMark[]> {
    const found = await this.records.list(NAMESPACE, { prefix: `${scope}:` });
    return found.map((r) => r.value as unknown as TaintMark);
  }

  async clear(scope: string): Promise<void> {
    await Promise.all((['untrusted', 'sensitive'] as const).map((l) => this.records.delete(NAMESPACE, `${scope}:${l}`)));
  }
}

export function describeTaint(marks: readonly TaintMark[]): string {
  return marks.map((m) => `${m.label} content from ${m.source} (${m.rules.join(', ')})`).join('; ');
}
