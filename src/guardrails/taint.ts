/**
 * Taint tracking for toxic flows. A session that has received untrusted content (prompt injection that was let
 * through flagged or wrapped, or any result of an untrusted source) or sensitive content (secrets or personal data
 * that were let through) is tainted; a call from it to a sink — a tool that can send data out or change the world —
 * then needs an approval or is refused (guardrails.taint.action).
 *
 * Policy conditions see the marks as `context.taint` (taintNames()): the policy stage reads them when the rule set in
 * force has a condition on it, and then marks are recorded even with taint.action off.
 *
 * Marks live in the shared records (one record per scope, label and cause, so concurrent marks from several replicas
 * never overwrite each other, and a later mark of one cause never hides an earlier one of another) and expire after
 * ttlSeconds. The scope is the session; a stateless (2026) client has none, so its scope is the principal together
 * with the client's name. A reload builds a new tracker over the same records: marks already recorded stay.
 */
import { createHash } from 'node:crypto';
import type { RecordStore } from '../storage/types.js';
import type { PolicyResource, TaintName } from '../policy/index.js';
import { nameGlob, type Glob } from '../policy/glob.js';
import type { TaintConfig } from './config.js';
import type { ReportedFinding } from './guardrail.js';

export type TaintLabel = 'untrusted' | 'sensitive';

/** What made a mark: a category of findings; an untrusted source has none. */
export type TaintCause = 'secret' | 'personal-data' | 'injection';

export interface TaintMark {
  label: TaintLabel;
  /** Absent for an untrusted source (and in marks recorded before causes were). */
  category?: TaintCause | undefined;
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

  /** `readByPolicy`: the policy in force has a condition on context.taint, so marks are needed even with action off. */
  constructor(private readonly records: RecordStore, readonly config: TaintConfig, private readonly readByPolicy = false) {
    this.sinks = config.sinks.map(toolGlob);
    this.sources = config.untrustedSources.map(toolGlob);
    this.sinkTags = new Set(config.sinkTags);
  }

  /** Calls to sinks from a tainted session get taint.action. */
  get enabled(): boolean {
    return this.config.action !== 'off';
  }

  /** What reaches a client leaves marks: for the sinks check, or for policy conditions on context.taint. */
  get recording(): boolean {
    return this.enabled || this.readByPolicy;
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
    const marks: TaintMark[] = [];
    if (untrustedSource) marks.push({ label: 'untrusted', source, rules: ['untrusted-source'], at: now });
    for (const [label, category] of CAUSES) {
      const rules = [...new Set(passed.filter((f) => f.category === category).map((f) => f.rule))];
      if (rules.length) marks.push({ label, category, source, rules, at: now });
    }
    return marks;
  }

  async mark(scope: string, marks: readonly TaintMark[]): Promise<void> {
    const ttlMs = this.config.ttlSeconds * 1000;
    await Promise.all(marks.map((m) => this.records.put(NAMESPACE, `${scope}:${m.label}:${m.category ?? 'source'}`, { ...m }, { ttlMs })));
  }

  async marks(scope: string): Promise<TaintMark[]> {
    const found = await this.records.list(NAMESPACE, { prefix: `${scope}:` });
    return found.map((r) => r.value as unknown as TaintMark);
  }

  async clear(scope: string): Promise<void> {
    const found = await this.records.list(NAMESPACE, { prefix: `${scope}:` });
    await Promise.all(found.map((r) => this.records.delete(NAMESPACE, r.key)));
  }
}

const CAUSES: readonly (readonly [TaintLabel, TaintCause])[] = [['untrusted', 'injection'], ['sensitive', 'secret'], ['sensitive', 'personal-data']];

/** The marks as policy conditions see them (context.taint): labels and causes, each once, in a stable order. */
export function taintNames(marks: readonly TaintMark[]): TaintName[] {
  const names = new Set<TaintName>();
  for (const m of marks) {
    names.add(m.label);
    if (m.category) names.add(m.category);
  }
  return [...names].sort();
}

export function describeTaint(marks: readonly TaintMark[]): string {
  return marks.map((m) => `${m.label} content from ${m.source} (${m.rules.join(', ')})`).join('; ');
}
