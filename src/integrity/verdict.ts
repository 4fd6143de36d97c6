/**
 * From findings and drift to an action, as the drift corpus defines the outcomes: `block` (refuse / quarantine),
 * `monitor` (let through, surface for review) or `allow`. The default mapping is by worst severity: high and
 * critical block, low and medium are monitored. A gateway may be stricter (e.g. re-approve every `changed` item);
 * this is the mapping the figures in docs/guardrails.md are measured with.
 */
import type { DriftReport } from './drift.js';
import { maxSeverity, severityRank, type Finding, type Severity } from './finding.js';

export type Action = 'allow' | 'monitor' | 'block';

export function actionFor(severity: Severity | undefined): Action {
  if (severity === undefined) return 'allow';
  return severityRank(severity) >= severityRank('high') ? 'block' : 'monitor';
}

export interface Verdict {
  action: Action;
  severity?: Severity;
  /** One line per finding or non-tightening change that contributed, worst first. */
  reasons: string[];
}

/** The admission verdict for one item: its drift from the pinned version (if any) and the findings of its scan. */
export function admissionVerdict(drift: DriftReport | undefined, findings: readonly Finding[]): Verdict {
  const reasons: { severity: Severity; text: string }[] = [
    ...findings.map((f) => ({ severity: f.severity, text: `${f.rule} at ${f.path}: ${f.message}` })),
    ...(drift?.changes ?? []).flatMap((c) => (c.severity ? [{ severity: c.severity, text: `drift ${c.kind} at ${c.path || '(item)'}: ${c.note}` }] : [])),
  ].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  const severity = maxSeverity(reasons.map((r) => r.severity));
  return { action: actionFor(severity), ...(severity && { severity }), reasons: reasons.map((r) => `${r.severity}: ${r.text}`) };
}
