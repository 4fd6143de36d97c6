/**
 * Last line of defence for secret values: the vault registers every value it hands out, and log lines are scrubbed
 * of them before they are written. Portcullis never logs a value itself; this catches what others print, such as
 * an upstream's stderr echoing its environment, or an upstream error quoting the header it was sent.
 */

/** Shorter values are not scrubbed: they would mangle ordinary words in every line (and are too weak to be secrets). */
export const MIN_SCRUBBED_LENGTH = 6;
const REPLACEMENT = '[secret]';

const values = new Set<string>();
/** The raw values and their JSON-escaped forms (how they appear inside a JSON log line), longest first. */
let forms: string[] = [];

export function registerSecretValues(list: Iterable<string>): void {
  let added = false;
  for (const v of list) {
    if (v.length < MIN_SCRUBBED_LENGTH || values.has(v)) continue;
    values.add(v);
    added = true;
  }
  if (!added) return;
  const all = new Set<string>();
  for (const v of values) {
    all.add(v);
    all.add(JSON.stringify(v).slice(1, -1));
  }
  forms = [...all].sort((a, b) => b.length - a.length);
}

export function scrubSecrets(text: string): string {
  if (forms.length === 0) return text;
  let out = text;
  for (const f of forms) if (out.includes(f)) out = out.split(f).join(REPLACEMENT);
  return out;
}
