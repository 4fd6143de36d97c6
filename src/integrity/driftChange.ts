/**
 * One difference between a pinned definition and its new version. A change is either provably tightening (it can
 * only make fewer calls valid: a new maxLength, a narrower enum, a removed optional parameter) or it is not, in which
 * case it carries a severity saying how much it can hurt.
 */
import { canonicalJson } from '../core/canonical.js';
import type { Severity } from './finding.js';

export type ChangeKind =
  | 'item-added' | 'item-removed'
  | 'text-changed' | 'value-changed'
  | 'param-added' | 'param-added-required' | 'param-removed' | 'param-removed-required' | 'param-renamed'
  | 'param-now-required' | 'param-now-optional'
  | 'constraint-added' | 'constraint-tightened' | 'constraint-loosened' | 'constraint-removed' | 'constraint-changed'
  | 'enum-narrowed' | 'enum-widened' | 'type-narrowed' | 'type-changed' | 'schema-changed'
  | 'annotation-changed' | 'meta-changed' | 'field-changed';

export interface DriftChange {
  path: string;
  kind: ChangeKind;
  /** Absent (undefined) when the path did not exist before. */
  before?: unknown;
  /** Absent (undefined) when the path no longer exists. */
  after?: unknown;
  tightening: boolean;
  /** How much a non-tightening change can hurt; absent for tightening changes. */
  severity?: Severity;
  note: string;
}

export function tightening(path: string, kind: ChangeKind, before: unknown, after: unknown, note: string): DriftChange {
  return withValues({ path, kind, tightening: true, note }, before, after);
}

export function loosening(path: string, kind: ChangeKind, severity: Severity, before: unknown, after: unknown, note: string): DriftChange {
  return withValues({ path, kind, tightening: false, severity, note }, before, after);
}

function withValues(change: DriftChange, before: unknown, after: unknown): DriftChange {
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return change;
}

export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return canonicalJson(a) === canonicalJson(b);
}
