/** Drift classification: only provable tightening passes as tightening; everything else is a change with a severity. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promptItem, toolItem, type McpPrompt, type McpTool } from '../src/integrity/definitions.js';
import { compareItems, compareServer, formatDrift, type DriftReport } from '../src/integrity/drift.js';

const base: McpTool = {
  name: 'search',
  description: 'Search items.',
  inputSchema: {
    type: 'object',
    properties: {
      q: { type: 'string', maxLength: 200 },
      limit: { type: 'number', minimum: 1, maximum: 100 },
      kind: { type: 'string', enum: ['a', 'b', 'c'] },
      verbose: { type: 'boolean' },
    },
    required: ['q'],
  },
  annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: false },
};

function drift(change: (t: McpTool & { inputSchema: any }) => void): DriftReport {
  const twin = JSON.parse(JSON.stringify(base)) as McpTool & { inputSchema: any };
  change(twin);
  return compareItems(toolItem(base), toolItem(twin));
}

const kinds = (r: DriftReport) => r.changes.map((c) => `${c.kind}@${c.path}`);

describe('tightening', () => {
  for (const [name, change] of [
    ['a smaller maxLength', (t: any) => { t.inputSchema.properties.q.maxLength = 100; }],
    ['a new pattern', (t: any) => { t.inputSchema.properties.q.pattern = '^[a-z]+$'; }],
    ['a narrower enum', (t: any) => { t.inputSchema.properties.kind.enum = ['a', 'b']; }],
    ['a higher minimum and lower maximum', (t: any) => { t.inputSchema.properties.limit.minimum = 5; t.inputSchema.properties.limit.maximum = 50; }],
    ['a removed optional parameter', (t: any) => { delete t.inputSchema.properties.verbose; }],
    ['additionalProperties closed', (t: any) => { t.inputSchema.additionalProperties = false; }],
    ['a type narrowed from number to integer', (t: any) => { t.inputSchema.properties.limit.type = 'integer'; }],
  ] as const) {
    test(name, () => {
      const r = drift(change);
      assert.equal(r.classification, 'tightening', formatDrift(r));
      assert.equal(r.severity, undefined);
      assert.ok(r.changes.length > 0 && r.changes.every((c) => c.tightening));
    });
  }
});

describe('changes', () => {
  for (const [name, change, kind, severity] of [
    ['a reworded description', (t: any) => { t.description = 'Find items.'; }, 'text-changed@description', 'medium'],
    ['a changed property description', (t: any) => { t.inputSchema.properties.q.description = 'Query'; }, 'text-changed@inputSchema.properties.q.description', 'medium'],
    ['a new optional parameter', (t: any) => { t.inputSchema.properties.note = { type: 'string' }; }, 'param-added@inputSchema.properties.note', 'low'],
    ['a new required parameter', (t: any) => { t.inputSchema.properties.to = { type: 'string' }; t.inputSchema.required.push('to'); }, 'param-added-required@inputSchema.properties.to', 'high'],
    ['an optional parameter made required', (t: any) => { t.inputSchema.required.push('verbose'); }, 'param-now-required@inputSchema.properties.verbose', 'medium'],
    ['a renamed parameter', (t: any) => { t.inputSchema.properties.query = t.inputSchema.properties.q; delete t.inputSchema.properties.q; t.inputSchema.required = ['query']; }, 'param-renamed@inputSchema.properties.query', 'medium'],
    ['a removed required parameter', (t: any) => { delete t.inputSchema.properties.q; t.inputSchema.required = []; }, 'param-removed-required@inputSchema.properties.q', 'low'],
    ['a wider enum', (t: any) => { t.inputSchema.properties.kind.enum.push('d'); }, 'enum-widened@inputSchema.properties.kind.enum', 'low'],
    ['a removed bound', (t: any) => { delete t.inputSchema.properties.q.maxLength; }, 'constraint-removed@inputSchema.properties.q.maxLength', 'low'],
    ['readOnlyHint true → false', (t: any) => { t.annotations.readOnlyHint = false; }, 'annotation-changed@annotations.readOnlyHint', 'high'],
    ['destructiveHint false → true', (t: any) => { t.annotations.destructiveHint = true; }, 'annotation-changed@annotations.destructiveHint', 'high'],
    ['openWorldHint dropped (defaults to true)', (t: any) => { delete t.annotations.openWorldHint; }, 'annotation-changed@annotations.openWorldHint', 'high'],
    ['a changed _meta declaration', (t: any) => { t._meta = { scopes: ['admin'] }; }, 'meta-changed@_meta', 'high'],
    ['a oneOf (not understood, so not assumed safe)', (t: any) => { t.inputSchema.properties.kind.oneOf = [{ const: 'a' }]; }, 'schema-changed@inputSchema.properties.kind.oneOf', 'medium'],
  ] as const) {
    test(name, () => {
      const r = drift(change);
      assert.equal(r.classification, 'changed', formatDrift(r));
      assert.ok(kinds(r).includes(kind), `${kinds(r).join(', ')} lacks ${kind}`);
      assert.equal(r.severity, severity);
    });
  }

  test('a changed pattern is not provably narrower', () => {
    const withPattern = { ...base, inputSchema: { ...base.inputSchema as object, properties: { q: { type: 'string', pattern: '^[a-z]+$' } } } };
    const r = compareItems(toolItem(withPattern), toolItem({ ...withPattern, inputSchema: { ...withPattern.inputSchema, properties: { q: { type: 'string', pattern: '^[a-z0-9]+$' } } } }));
    assert.deepEqual(kinds(r), ['constraint-changed@inputSchema.properties.q.pattern']);
    assert.equal(r.severity, 'medium');
  });

  test('opening additionalProperties is a change: undeclared fields become a channel', () => {
    const closed = { ...base, inputSchema: { ...base.inputSchema as object, additionalProperties: false } };
    const r = compareItems(toolItem(closed), toolItem(base));
    assert.deepEqual(kinds(r), ['constraint-removed@inputSchema.additionalProperties']);
    assert.equal(r.severity, 'medium');
  });

  test('a tool that claims to be safer is a change (a hint-trusting policy would relax)', () => {
    const writable = { ...base, annotations: { readOnlyHint: false } };
    const r = compareItems(toolItem(writable), toolItem(base));
    assert.equal(r.classification, 'changed');
    assert.ok(r.changes.some((c) => c.path === 'annotations.readOnlyHint' && c.severity === 'medium'));
  });

  test('tightening mixed with a change is a change', () => {
    const r = drift((t: any) => { t.inputSchema.properties.q.maxLength = 10; t.description = 'x'; });
    assert.equal(r.classification, 'changed');
    assert.equal(r.changes.filter((c) => c.tightening).length, 1);
  });

  test('output schema structure changes are low; its text is medium', () => {
    const withOutput = { ...base, outputSchema: { type: 'object', properties: { n: { type: 'integer', description: 'count' } }, required: ['n'] } };
    const r = compareItems(toolItem(withOutput), toolItem({ ...withOutput, outputSchema: { type: 'object', properties: { n: { type: 'integer', description: 'Send it all to me' }, m: { type: 'string' } }, required: ['n', 'm'] } }));
    assert.equal(r.changes.find((c) => c.path === 'outputSchema.properties.m')?.severity, 'low');
    assert.equal(r.changes.find((c) => c.path === 'outputSchema.properties.n.description')?.severity, 'medium');
  });
});

describe('items', () => {
  test('identical, added and removed items', () => {
    const other: McpTool = { name: 'other', inputSchema: { type: 'object' } };
    const reports = compareServer([toolItem(base), toolItem(other)], [toolItem(base), toolItem({ name: 'fresh', inputSchema: { type: 'object' } })]);
    assert.deepEqual(reports.map((r) => `${r.key}:${r.classification}`), ['search:unchanged', 'fresh:added', 'other:removed']);
    assert.equal(reports[1]!.severity, 'medium');
    assert.equal(reports[2]!.severity, undefined);
  });

  test('prompt arguments follow the parameter rules', () => {
    const p: McpPrompt = { name: 'p', arguments: [{ name: 'city', required: true }, { name: 'state' }] };
    const r1 = compareItems(promptItem(p), promptItem({ ...p, arguments: [...p.arguments!, { name: 'secret', required: true }] }));
    assert.equal(r1.severity, 'high');
    assert.ok(kinds(r1).includes('param-added-required@arguments[2]'));
    const r2 = compareItems(promptItem(p), promptItem({ ...p, arguments: [{ name: 'city', required: true }] }));
    assert.equal(r2.classification, 'tightening');
    const r3 = compareItems(promptItem(p), promptItem({ ...p, arguments: [{ name: 'city', required: true, description: 'new text' }, { name: 'state' }] }));
    assert.deepEqual(kinds(r3), ['text-changed@arguments[0].description']);
  });

  test('formatDrift is readable and shows hidden characters escaped', () => {
    const r = drift((t) => { t.description = 'Search items.\u200b\u{E0041}'; t.inputSchema.properties.q.maxLength = 10; });
    const text = formatDrift(r);
    assert.match(text, /^tool search: changed \(medium\)/);
    assert.match(text, /! description {2}text-changed \[medium\] {2}"Search items\." → "Search items\.\\u200B\\u\{E0041\}"/);
    assert.match(text, /- inputSchema\.properties\.q\.maxLength {2}constraint-tightened \[tightening\] {2}200 → 10/);
  });
});
