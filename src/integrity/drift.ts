/**
 * Drift between an approved (pinned) definition and the one a server sends now: a structured list of changes and a
 * classification. `tightening` means every change provably narrows what the tool accepts; anything else is
 * `changed` (or `added` / `removed` for whole items), which the gateway treats as needing re-approval.
 *
 * Each non-tightening change also carries a severity, so that a reviewer (and an automatic policy) can tell a
 * reworded description (medium) from a new required parameter or a tool that stopped being read-only (high).
 */
import type { DefinitionItem, DefinitionKind } from './definitions.js';
import { isObject } from './definitions.js';
import { loosening, sameJson, type DriftChange } from './driftChange.js';
import { maxSeverity, type Severity } from './finding.js';
import { childPath } from './jsonPath.js';
import { compareSchema } from './schemaDrift.js';
import { escapeForReview } from './text.js';

export type { ChangeKind, DriftChange } from './driftChange.js';

export type DriftClassification = 'unchanged' | 'tightening' | 'changed' | 'added' | 'removed';

export interface DriftReport {
  kind: DefinitionKind;
  key: string;
  classification: DriftClassification;
  /** The worst severity among the non-tightening changes; absent when there are none. */
  severity?: Severity;
  changes: DriftChange[];
  pinnedHash?: string;
  currentHash?: string;
}

/** Compares one item with its pinned version; either side may be missing (a new or a removed item). */
export function compareItems(pinned: DefinitionItem | undefined, current: DefinitionItem | undefined): DriftReport {
  const any = (current ?? pinned)!;
  const base = {
    kind: any.kind, key: any.key,
    ...(pinned && { pinnedHash: pinned.hash }),
    ...(current && { currentHash: current.hash }),
  };
  if (!pinned) {
    return { ...base, classification: 'added', severity: 'medium', changes: [loosening('', 'item-added', 'medium', undefined, current!.definition, `new ${any.kind} "${any.key}" (not approved yet)`)] };
  }
  if (!current) {
    return { ...base, classification: 'removed', changes: [{ path: '', kind: 'item-removed', before: pinned.definition, tightening: false, note: `${any.kind} "${any.key}" removed` }] };
  }
  if (pinned.hash === current.hash) return { ...base, classification: 'unchanged', changes: [] };
  const changes: DriftChange[] = [];
  compareDefinitions(pinned.definition, current.definition, changes);
  // The hash moved but no rule explained why: still a change, never silently accepted.
  if (changes.length === 0) changes.push(loosening('', 'field-changed', 'medium', pinned.hash, current.hash, 'definition hash changed'));
  const loose = changes.filter((c) => !c.tightening);
  const severity = maxSeverity(loose.flatMap((c) => (c.severity ? [c.severity] : [])));
  return { ...base, classification: loose.length === 0 ? 'tightening' : 'changed', ...(severity && { severity }), changes };
}

/** Compares a server's pinned items with its current ones, matched by kind and key; unchanged items included. */
export function compareServer(pinned: readonly DefinitionItem[], current: readonly DefinitionItem[]): DriftReport[] {
  const id = (i: DefinitionItem) => `${i.kind}\u0000${i.key}`;
  const before = new Map(pinned.map((i) => [id(i), i]));
  const after = new Map(current.map((i) => [id(i), i]));
  const reports = current.map((item) => compareItems(before.get(id(item)), item));
  for (const item of pinned) if (!after.has(id(item))) reports.push(compareItems(item, undefined));
  return reports;
}

const TEXT_FIELDS = new Set(['name', 'title', 'description']);
/** Hint defaults from the MCP specification: an unannotated tool is assumed writable, destructive, open-world. */
const HINT_DEFAULTS: Readonly<Record<string, boolean>> = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
/** The value of each hint that makes a tool more dangerous. */
const RISKIER: Readonly<Record<string, boolean>> = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };

function compareDefinitions(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>, out: DriftChange[]): void {
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[key];
    const a = after[key];
    if (sameJson(b, a)) continue;
    if (TEXT_FIELDS.has(key)) out.push(loosening(key, 'text-changed', a === undefined ? 'low' : 'medium', b, a, `${key} changed`));
    else if (key === 'inputSchema') compareSchema(b ?? {}, a ?? {}, key, out);
    else if (key === 'outputSchema') compareOutputSchema(b, a, out);
    else if (key === 'annotations' && (isObject(b) || isObject(a))) compareAnnotations(isObject(b) ? b : {}, isObject(a) ? a : {}, out);
    else if (key === 'arguments') compareArguments(b, a, out);
    else if (key === '_meta') diffLeaves(b, a, key, out, (path, x, y) => loosening(path, 'meta-changed', 'high', x, y, 'declared metadata changed (may declare capabilities, effects or scopes)'));
    else if (key === 'icons') out.push(loosening(key, 'field-changed', 'low', b, a, 'icons changed'));
    else out.push(loosening(key, 'field-changed', 'medium', b, a, `${key} changed`));
  }
}

/** What a tool promises to return: only its text can mislead the model, so structure changes are low. */
function compareOutputSchema(b: unknown, a: unknown, out: DriftChange[]): void {
  if (b === undefined || a === undefined) {
    out.push(loosening('outputSchema', 'schema-changed', 'low', b, a, a === undefined ? 'output schema removed' : 'output schema added'));
    return;
  }
  const changes: DriftChange[] = [];
  compareSchema(b, a, 'outputSchema', changes);
  for (const c of changes) {
    if (!c.tightening && c.kind !== 'text-changed' && c.kind !== 'value-changed') c.severity = 'low';
    out.push(c);
  }
}

function compareAnnotations(b: Record<string, unknown>, a: Record<string, unknown>, out: DriftChange[]): void {
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (sameJson(b[key], a[key])) continue;
    const path = childPath('annotations', key);
    if (key === 'title') { out.push(loosening(path, 'text-changed', 'medium', b[key], a[key], 'annotation title changed')); continue; }
    const fallback = HINT_DEFAULTS[key];
    if (fallback === undefined) { out.push(loosening(path, 'annotation-changed', 'medium', b[key], a[key], `annotation ${key} changed`)); continue; }
    const was = typeof b[key] === 'boolean' ? b[key] : fallback;
    const now = typeof a[key] === 'boolean' ? a[key] : fallback;
    const weighty = key !== 'idempotentHint';
    if (was === now) out.push(loosening(path, 'annotation-changed', 'low', b[key], a[key], `${key} made explicit or implicit; effective value unchanged (${String(now)})`));
    else if (now === RISKIER[key]) out.push(loosening(path, 'annotation-changed', weighty ? 'high' : 'low', b[key], a[key], `${key} ${String(was)} → ${String(now)}: the tool now declares itself more dangerous`));
    else out.push(loosening(path, 'annotation-changed', weighty ? 'medium' : 'low', b[key], a[key], `${key} ${String(was)} → ${String(now)}: the tool now claims to be safer (policies that trust hints would relax)`));
  }
}

interface Argument { name: string; description?: unknown; title?: unknown; required?: unknown; [key: string]: unknown }

function argumentsOf(v: unknown): Map<string, { arg: Argument; index: number }> {
  const list = Array.isArray(v) ? v : [];
  const map = new Map<string, { arg: Argument; index: number }>();
  list.forEach((arg, index) => { if (isObject(arg) && typeof arg.name === 'string') map.set(arg.name, { arg: arg as Argument, index }); });
  return map;
}

/** Prompt arguments, matched by name, with the same rules as schema parameters. */
function compareArguments(b: unknown, a: unknown, out: DriftChange[]): void {
  const before = argumentsOf(b);
  const after = argumentsOf(a);
  const removed = [...before.keys()].filter((n) => !after.has(n));
  const added = [...after.keys()].filter((n) => !before.has(n));
  const at = (i: number) => childPath('arguments', i);
  const strip = ({ name: _name, ...rest }: Argument) => rest;
  const [gone, fresh] = [removed[0], added[0]];
  if (removed.length === 1 && added.length === 1 && gone !== undefined && fresh !== undefined && sameJson(strip(before.get(gone)!.arg), strip(after.get(fresh)!.arg))) {
    out.push(loosening(at(after.get(fresh)!.index), 'param-renamed', 'medium', gone, fresh, `argument "${gone}" renamed to "${fresh}"`));
  } else {
    for (const name of removed) {
      const { arg, index } = before.get(name)!;
      out.push(arg.required === true
        ? loosening(at(index), 'param-removed-required', 'low', arg, undefined, `required argument "${name}" removed`)
        : { path: at(index), kind: 'param-removed', before: arg, tightening: true, note: `optional argument "${name}" removed` });
    }
    for (const name of added) {
      const { arg, index } = after.get(name)!;
      out.push(arg.required === true
        ? loosening(at(index), 'param-added-required', 'high', undefined, arg, `new required argument "${name}"`)
        : loosening(at(index), 'param-added', 'low', undefined, arg, `new optional argument "${name}"`));
    }
  }
  for (const [name, { arg: was, index }] of after) {
    const old = before.get(name)?.arg;
    if (!old || sameJson(old, was)) continue;
    for (const key of new Set([...Object.keys(old), ...Object.keys(was)])) {
      if (sameJson(old[key], was[key])) continue;
      const path = childPath(at(index), key);
      if (key === 'required') {
        out.push(was.required === true
          ? loosening(path, 'param-now-required', 'medium', old.required, was.required, `argument "${name}" is now required`)
          : loosening(path, 'param-now-optional', 'low', old.required, was.required, `argument "${name}" is now optional`));
      } else if (TEXT_FIELDS.has(key)) out.push(loosening(path, 'text-changed', 'medium', old[key], was[key], `argument ${key} changed`));
      else out.push(loosening(path, 'field-changed', 'medium', old[key], was[key], `argument ${key} changed`));
    }
  }
}

/** One change per differing leaf (objects are descended; arrays and scalars compared whole). */
function diffLeaves(b: unknown, a: unknown, path: string, out: DriftChange[], make: (path: string, b: unknown, a: unknown) => DriftChange): void {
  if (sameJson(b, a)) return;
  if (isObject(b) && isObject(a)) {
    for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) diffLeaves(b[key], a[key], childPath(path, key), out, make);
  } else out.push(make(path, b, a));
}

/** A readable, review-ready rendering of a report: one line per change, hidden characters escaped. */
export function formatDrift(report: DriftReport): string {
  const head = `${report.kind} ${escapeForReview(report.key, { singleLine: true })}: ${report.classification}${report.severity ? ` (${report.severity})` : ''}`;
  const lines = report.changes.map((c) => {
    const mark = c.tightening ? '-' : '!';
    const level = c.tightening ? 'tightening' : c.severity ?? '';
    return `  ${mark} ${c.path || '(item)'}  ${c.kind} [${level}]  ${show(c.before)} → ${show(c.after)}  — ${c.note}`;
  });
  return [head, ...lines].join('\n');
}

const SHOW_MAX = 200;

function show(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = typeof value === 'string'
    ? `"${escapeForReview(value, { singleLine: true })}"`
    : escapeForReview(JSON.stringify(value) ?? String(value), { singleLine: true, keepBackslashes: true });
  return text.length > SHOW_MAX ? `${text.slice(0, SHOW_MAX)}…` : text;
}
