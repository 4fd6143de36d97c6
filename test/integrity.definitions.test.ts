/** Definitions: pinnable hashes and the text fields (with JSON paths) that admission must scan. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { definitionsOfServer, promptItem, resourceItem, resourceTemplateItem, toolItem, type McpTool } from '../src/integrity/definitions.js';

const tool: McpTool = {
  name: 'read',
  title: 'Read',
  description: 'Reads a file.',
  inputSchema: {
    type: 'object',
    properties: {
      path: { type: 'string', description: 'Where to read', pattern: '^/srv/', examples: ['/srv/a'] },
      mode: { type: 'string', enum: ['text', 'binary'], default: 'text' },
      options: { type: 'object', properties: { encoding: { const: 'utf8', title: 'Encoding' } } },
      'odd.key': { type: 'array', items: { type: 'string', description: 'An item' } },
    },
    required: ['path'],
  },
  outputSchema: { type: 'object', properties: { content: { type: 'string', description: 'The text' } } },
  annotations: { title: 'Read a file', readOnlyHint: true },
  _meta: { 'io.example/note': 'meta text' },
  icons: [{ src: 'data:image/png;base64,AAAA' }],
};

describe('definition hashes', () => {
  test('are sha-256 of the canonical JSON: key order does not matter, any change does', () => {
    const reordered = Object.fromEntries(Object.entries(tool).reverse()) as McpTool;
    assert.equal(toolItem(reordered).hash, toolItem(tool).hash);
    assert.match(toolItem(tool).hash, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(toolItem({ ...tool, description: 'Reads a file!' }).hash, toolItem(tool).hash);
    assert.notEqual(toolItem({ ...tool, _meta: { 'io.example/note': 'other' } }).hash, toolItem(tool).hash);
  });
  test('of a resource ignore its size and lastModified, which change on their own', () => {
    const r = { uri: 'file:///a', name: 'a', mimeType: 'text/plain' };
    const base = resourceItem(r).hash;
    assert.equal(resourceItem({ ...r, size: 10, annotations: { lastModified: '2025-01-01T00:00:00Z' } }).hash, base);
    assert.notEqual(resourceItem({ ...r, annotations: { audience: ['user'] } }).hash, base);
  });
  test('pin a copy: mutating the server object afterwards changes nothing', () => {
    const t = JSON.parse(JSON.stringify(tool)) as McpTool;
    const item = toolItem(t);
    t.description = 'changed';
    assert.equal(item.definition.description, 'Reads a file.');
  });
});

describe('text fields', () => {
  const fields = new Map(toolItem(tool).fields.map((f) => [f.path, f]));
  test('cover every string the model reads, each with its JSON path', () => {
    assert.deepEqual([...fields.keys()].sort(), [
      '_meta["io.example/note"]',
      'annotations.title',
      'description',
      'inputSchema.properties.mode',
      'inputSchema.properties.mode.default',
      'inputSchema.properties.mode.enum[0]',
      'inputSchema.properties.mode.enum[1]',
      'inputSchema.properties.options',
      'inputSchema.properties.options.properties.encoding',
      'inputSchema.properties.options.properties.encoding.const',
      'inputSchema.properties.options.properties.encoding.title',
      'inputSchema.properties.path',
      'inputSchema.properties.path.description',
      'inputSchema.properties.path.examples[0]',
      'inputSchema.properties.path.pattern',
      'inputSchema.properties["odd.key"]',
      'inputSchema.properties["odd.key"].items.description',
      'name',
      'outputSchema.properties.content',
      'outputSchema.properties.content.description',
      'title',
    ].sort());
  });
  test('say what each field is and which property it belongs to', () => {
    assert.deepEqual(fields.get('inputSchema.properties.path.description'), { path: 'inputSchema.properties.path.description', text: 'Where to read', kind: 'description', propertyName: 'path' });
    assert.deepEqual(fields.get('inputSchema.properties.path'), { path: 'inputSchema.properties.path', text: 'path', kind: 'property-name', propertyName: 'path' });
    assert.equal(fields.get('inputSchema.properties.options.properties.encoding.const')?.propertyName, 'encoding');
    assert.equal(fields.get('name')?.kind, 'name');
  });
  test('of prompts, resources and templates', () => {
    const p = promptItem({ name: 'p', description: 'A prompt', arguments: [{ name: 'city', description: 'The city', required: true }] });
    assert.deepEqual(p.fields.map((f) => [f.path, f.kind, f.propertyName]), [
      ['name', 'name', undefined], ['description', 'description', undefined],
      ['arguments[0].name', 'property-name', 'city'], ['arguments[0].description', 'description', 'city'],
    ]);
    assert.deepEqual(resourceItem({ uri: 'demo://a', name: 'a', description: 'd', mimeType: 'text/plain' }).fields.map((f) => f.path), ['uri', 'name', 'description', 'mimeType']);
    const t = resourceTemplateItem({ uriTemplate: 'demo://{id}', name: 't' });
    assert.equal(t.key, 'demo://{id}');
    assert.deepEqual(t.fields.map((f) => f.path), ['uriTemplate', 'name']);
  });
  test('definitionsOfServer keys items by name, URI or URI template', () => {
    const items = definitionsOfServer({ tools: [tool], prompts: [{ name: 'p' }], resources: [{ uri: 'demo://r', name: 'r' }], resourceTemplates: [{ uriTemplate: 'demo://{x}', name: 't' }] });
    assert.deepEqual(items.map((i) => `${i.kind}:${i.key}`), ['tool:read', 'prompt:p', 'resource:demo://r', 'resourceTemplate:demo://{x}']);
    assert.equal(items[0]!.context.description, 'Reads a file.');
  });
});
