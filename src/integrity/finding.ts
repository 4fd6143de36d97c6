/**
 * The vocabulary shared by every integrity detector: what a finding is, where it was found, and the detector
 * contract. Detectors are pure functions of (text, context); the scanner decides which ones run.
 */

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Where a text came from: an upstream definition at admission, a result going to the model, or an outbound argument. */
export type Target = 'definition' | 'result' | 'argument';

/** A half-open range [start, end) of UTF-16 code units in the text that was scanned. */
export interface Span { start: number; end: number }

export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  /** JSON path of the scanned field, e.g. `inputSchema.properties.path.description` or `content[0].text`. */
  path: string;
  span: Span;
  /** The matched text with hidden characters escaped, safe to show a reviewer. */
  excerpt: string;
}

/** What a text field of a definition is; detectors use it to decide what a suspicious phrase means there. */
export type FieldKind = 'name' | 'title' | 'description' | 'property-name' | 'value';

/** The definition item around a field, for detectors that judge a field against the rest of its tool. */
export interface ItemContext {
  kind: 'tool' | 'prompt' | 'resource' | 'resourceTemplate';
  name: string;
  description: string;
}

export interface FieldContext {
  target: Target;
  path: string;
  fieldKind?: FieldKind;
  /** The schema property (or prompt argument) this field belongs to, if any. */
  propertyName?: string;
  item?: ItemContext;
  /** Tool names of *other* servers; a definition that talks about them may be shadowing them. */
  knownTools?: ReadonlySet<string>;
}

export interface Detector {
  id: string;
  /** The highest severity the rule gives (rules that grade their findings give lower ones too); overridable. */
  severity: Severity;
  appliesTo: ReadonlySet<Target>;
  /** One line for the rule catalogue in docs/guardrails.md. */
  summary: string;
  scan(text: string, field: FieldContext): Finding[];
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function maxSeverity(severities: Iterable<Severity>): Severity | undefined {
  let best: Severity | undefined;
  for (const s of severities) if (best === undefined || severityRank(s) > severityRank(best)) best = s;
  return best;
}

export function targets(...list: Target[]): ReadonlySet<Target> {
  return new Set(list);
}
