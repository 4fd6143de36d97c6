/**
 * Units of the least-privilege wiring: the pipeline names the stage of every rejection (also one thrown before a
 * stage returns its promise), the rule set merges configured item attributes, templates are matched by the resource
 * patterns that could match them, and a reload knows what it can apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compose, type NamedStage } from '../src/pipeline/pipeline.js';
import { GatewayError, isGatewayError } from '../src/core/errors.js';
import type { RequestContext } from '../src/pipeline/context.js';
import { parseConfig } from '../src/config/load.js';
import { RuleSet, type RuleSetEnv } from '../src/pipeline/ruleSet.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { silentLogger } from '../src/core/log.js';
import { listsMayChange, reloadableChanged, reloadableChanges, restartNeeded, withStartupCustom } from '../src/config/reload.js';
import { compilePolicy } from '../src/policy/index.js';
import { templateMayMatch } from '../src/policy/rule.js';
import { uriGlob } from '../src/policy/glob.js';
import { LOCAL_PRINCIPAL } from '../src/pipeline/stages/authenticate.js';

test('every rejection names its stage, whether thrown or rejected', async () => {
  const syncThrow: NamedStage = { name: 'sync', run: () => { throw new GatewayError('PC_INVALID_PARAMS', 'x'); } };
  const asyncThrow: NamedStage = { name: 'async', run: async () => { throw new GatewayError('PC_INVALID_PARAMS', 'y'); } };
  const pass: NamedStage = { name: 'pass', run: (_ctx, next) => next() };
  for (const [stages, name] of [[[pass, syncThrow], 'sync'], [[pass, asyncThrow], 'async']] as const) {
    await assert.rejects(compose(stages)({} as RequestContext), (e) => isGatewayError(e) && e.stage === name);
  }
});

const env: RuleSetEnv = { custom: [], records: createMemoryStorage().records, log: silentLogger };

test('the rule set: configured annotations replace the upstream\'s, tags add up, definitions are decided once each', () => {
  const config = parseConfig(`auth: { mode: none }
upstreams:
  fs:
    transport: stdio
    command: x
    tags: [files]
    tools: { write_file: { tags: [writes], annotations: { destructiveHint: true } } }
    prompts: { brief: { tags: [docs] } }
policy: { rules: [{ effect: allow, tags: [writes] }, { effect: deny, destructive: true, tags: [files] }] }
`, { source: 'test' });
  const rules = new RuleSet(7, config, env);
  const def = { name: 'write_file', annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true } };
  const item = rules.tool('fs', def);
  assert.deepEqual(item, { kind: 'tool', server: 'fs', name: 'write_file', annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true }, tags: ['files', 'writes'] });
  assert.equal(rules.tool('fs', def), item, 'cached per definition object');
  assert.deepEqual(rules.shownTool('fs', def).annotations, { readOnlyHint: false, destructiveHint: true, idempotentHint: true }, 'clients see the override');
  assert.deepEqual(rules.prompt('fs', 'brief').tags, ['files', 'docs']);
  assert.deepEqual(rules.resource('fs', 'file:///a').tags, ['files']);
  assert.equal(rules.generation, 7);
  assert.equal(rules.allowsNothing, false);
  const ctx = { time: new Date(), era: 'modern' as const, endpoint: 'fs' };
  assert.equal(rules.policy.decide(LOCAL_PRINCIPAL, 'call', item, ctx).outcome, 'deny', 'the configured destructiveHint is what the policy sees');
  assert.equal(new RuleSet(1, parseConfig('auth: { mode: none }\n', { source: 'test' }), env).allowsNothing, true);
});

test('a template matches only the resource patterns some expansion of it could match', () => {
  const t = (template: string, glob: string) => templateMayMatch(template, uriGlob(glob));
  assert.equal(t('file:///home/{user}/notes', 'file:///home/**'), true);
  assert.equal(t('file:///home/{user}', 'file:///pub/**'), false, 'the heads differ');
  assert.equal(t('mem://b/item/{id}', 'mem://b/doc1'), false);
  assert.equal(t('mem://b/item/{id}', 'mem://b/item/7'), true);
  assert.equal(t('mem://b/{id}.json', 'mem://b/*.txt'), false, 'the tails differ');
  assert.equal(t('mem://b/{+rest}', '*'), true);
  assert.equal(t('mem://b/fixed', 'mem://b/*'), true, 'a template without variables is a URI');
  const policy = compilePolicy({ rules: [{ effect: 'allow', resources: ['docs/file:///pub/**'] }] });
  const ctx = { time: new Date(), era: 'modern' as const, endpoint: 'docs' };
  const shown = policy.filter(LOCAL_PRINCIPAL, [
    { kind: 'template', server: 'docs', uri: 'file:///pub/{name}' },
    { kind: 'template', server: 'docs', uri: 'file:///home/{user}' },
  ], ctx);
  assert.deepEqual(shown.map((x) => x.uri), ['file:///pub/{name}']);
});

test('a reload knows what it can apply and what needs a restart', () => {
  const base = `auth: { mode: none }
upstreams:
  fs: { transport: stdio, command: x, tags: [a] }
policy: { rules: [{ effect: allow }] }
`;
  const a = parseConfig(base, { source: 'a' });
  assert.deepEqual(restartNeeded(a, parseConfig(base, { source: 'b' })), []);
  assert.equal(reloadableChanged(a, parseConfig(base, { source: 'b' })), false);
  const b = parseConfig(base.replace('tags: [a]', 'tags: [b]').replace('effect: allow', 'effect: deny'), { source: 'b' });
  assert.deepEqual(restartNeeded(a, b), [], 'tags and the policy reload');
  assert.equal(reloadableChanged(a, b), true);
  const c = parseConfig(base.replace('command: x', 'command: y') + 'sessions: { max: 3 }\nrateLimits: [{ requests: 1 }]\n', { source: 'c' });
  assert.deepEqual(restartNeeded(a, c).sort(), ['sessions', 'upstreams.fs']);
  assert.equal(reloadableChanged(a, c), true);
  const d = parseConfig(base.replace('tags: [a]', 'tags: [a], guardrails: { results: { secrets: off } }') + 'guardrails: { taint: { action: deny }, failClosed: false }\n', { source: 'd' });
  assert.deepEqual(restartNeeded(a, d), [], 'guardrails reload, top level and per server');
  assert.deepEqual(reloadableChanges(a, d), ['guardrails', 'upstreams.fs.guardrails']);
  assert.equal(reloadableChanged(a, d), true);
  assert.equal(listsMayChange(reloadableChanges(a, d)), false, 'guardrails change no list');
  assert.equal(listsMayChange(reloadableChanges(a, b)), true);
  const e = parseConfig(base + 'guardrails: { custom: [{ name: dlp, module: ./dlp.mjs }] }\n', { source: 'e' });
  assert.deepEqual(restartNeeded(a, e), ['guardrails.custom'], 'custom guardrails are loaded at start');
  assert.equal(reloadableChanged(a, e), false);
  assert.deepEqual(withStartupCustom(e, a).guardrails.custom, []);
});
