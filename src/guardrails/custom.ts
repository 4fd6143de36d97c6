/**
 * Operator-supplied guardrails: an ES module exporting `createGuardrail(options)` that returns an object with
 * `inspect(input)` (src/guardrails/guardrail.ts). What it returns is checked like any other untrusted input: a
 * malformed finding is a failure of that guardrail (and fails closed when so configured), never a silent pass.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SEVERITIES, type Severity } from '../integrity/finding.js';
import type { CustomGuardrailConfig } from './config.js';
import type { Direction, FindingCategory, Guardrail, GuardrailAction, GuardrailFinding, GuardrailInput } from './guardrail.js';

const ACTIONS: ReadonlySet<string> = new Set<GuardrailAction>(['block', 'redact', 'flag', 'wrap', 'warn']);
const CATEGORIES: ReadonlySet<string> = new Set<FindingCategory>(['secret', 'personal-data', 'injection', 'other']);
const ON: Record<CustomGuardrailConfig['on'][number], Direction> = { results: 'result', arguments: 'argument', serverRequests: 'server-request' };

/** What the module's factory may return: findings without action or category get the configured defaults. */
type RawFinding = Partial<GuardrailFinding> & Record<string, unknown>;

export async function loadCustomGuardrail(cfg: CustomGuardrailConfig): Promise<Guardrail> {
  const specifier = isAbsolute(cfg.module) ? pathToFileURL(cfg.module).href : cfg.module;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`guardrail "${cfg.name}": cannot load ${cfg.module}: ${(e as Error).message}`);
  }
  const factory = mod.createGuardrail ?? (mod.default as Record<string, unknown> | undefined)?.createGuardrail ?? mod.default;
  if (typeof factory !== 'function') throw new Error(`guardrail "${cfg.name}": ${cfg.module} exports no createGuardrail(options) function`);
  const made = (await factory(cfg.options)) as { inspect?: unknown; close?: unknown } | undefined;
  if (!made || typeof made.inspect !== 'function') throw new Error(`guardrail "${cfg.name}": createGuardrail() returned no object with an inspect(input) method`);
  const inspect = made.inspect.bind(made) as (input: GuardrailInput) => unknown;
  const close = typeof made.close === 'function' ? (made.close.bind(made) as () => void | Promise<void>) : undefined;
  const directions = new Set<Direction>(cfg.on.map((o) => ON[o]));
  return {
    name: cfg.name,
    directions,
    failClosed: cfg.failClosed,
    timeoutMs: cfg.timeoutMs,
    async inspect(input) {
      const found = await inspect(input);
      if (found === undefined || found === null) return [];
      if (!Array.isArray(found)) throw new Error('inspect() must return an array of findings');
      return found.map((f, i) => checkFinding(f as RawFinding, i, cfg.action));
    },
    ...(close && { close }),
  };
}

function checkFinding(f: RawFinding, i: number, defaultAction: GuardrailAction): GuardrailFinding {
  const bad = (why: string): never => { throw new Error(`finding ${i}: ${why}`); };
  if (typeof f !== 'object' || f === null) bad('not an object');
  if (typeof f.rule !== 'string' || f.rule === '') bad('rule must be a non-empty string');
  if (typeof f.path !== 'string') bad('path must be a string (the JSON path of the string found in, e.g. "content[0].text")');
  const severity = (f.severity ?? 'high') as Severity;
  if (!(SEVERITIES as readonly string[]).includes(severity)) bad(`severity must be one of ${SEVERITIES.join(', ')}`);
  const action = (f.action ?? defaultAction) as GuardrailAction;
  if (!ACTIONS.has(action)) bad(`action must be one of ${[...ACTIONS].join(', ')}`);
  const category = (f.category ?? 'other') as FindingCategory;
  if (!CATEGORIES.has(category)) bad(`category must be one of ${[...CATEGORIES].join(', ')}`);
  let span: GuardrailFinding['span'];
  if (f.span !== undefined) {
    const s = f.span as { start?: unknown; end?: unknown };
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || (s.start as number) < 0 || (s.end as number) < (s.start as number)) bad('span must be {start, end} with 0 <= start <= end');
    span = { start: s.start as number, end: s.end as number };
  }
  return {
    rule: f.rule as string,
    severity,
    message: typeof f.message === 'string' ? f.message : f.rule as string,
    path: f.path as string,
    span,
    action,
    category,
  };
}
