/**
 * The integrity detectors measured against labelled data (scripts/integrity-corpus.ts prints the same figures):
 * the tool-drift corpus must be classified exactly as its README defines, hidden variants of BIPIA injections must
 * not escape where the plain text is caught, and real documentation must not look like high-severity injection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateBipia, evaluateDriftCorpus, evaluateReadmes, VARIANTS } from '../scripts/integrity-corpus.js';
import { createScanner } from '../src/integrity/scanner.js';

const scanner = createScanner();

test('tool-drift corpus: every malicious twin blocked, every benign twin quiet, every undeclared twin surfaced', () => {
  const results = evaluateDriftCorpus(scanner);
  assert.equal(results.length, 21); // 6 + 5 + 3 capability-surface, 4 + 3 content-injection
  const wrong = results.filter((r) => !r.ok).map((r) => `${r.file} ${r.group} ${r.id}: ${r.verdict.action} (${r.verdict.reasons.join('; ')})`);
  assert.deepEqual(wrong, []);
  for (const group of ['malicious', 'benign', 'undeclared'] as const) assert.ok(results.some((r) => r.group === group), `no ${group} cases read`);
});

test('content-injection twins are caught by the definition scan alone, not only by drift', () => {
  const malicious = evaluateDriftCorpus(scanner).filter((r) => r.file.startsWith('content-injection') && r.group === 'malicious');
  assert.equal(malicious.length, 4);
  for (const r of malicious) assert.ok(r.verdict.reasons.some((x) => /^(high|critical): (?!drift)/.test(x)), `${r.id}: ${r.verdict.reasons.join('; ')}`);
});

test('BIPIA: no hidden variant escapes where the plain attack is caught; detection stays at its measured level', () => {
  const results = evaluateBipia(scanner);
  const escapes = results.filter((r) => r.detected.plain && VARIANTS.some((v) => !r.detected[v]));
  assert.deepEqual(escapes.map((r) => `${r.set}/${r.category}#${r.index}`), []);
  const caught = (set: string) => results.filter((r) => r.set === set && r.detected.plain).length;
  // Measured when this was written: text 48/75 (the 25 plain-task attacks carry no marker), code 50/50.
  assert.ok(caught('text') >= 48, `text attacks caught: ${caught('text')}/75`);
  assert.equal(caught('code'), 50);
});

test('real documentation (README files of installed packages) raises no high-severity injection finding', () => {
  const fp = evaluateReadmes(scanner);
  assert.ok(fp.documents > 100, `only ${fp.documents} documents found`);
  const high = fp.injectionDocs.flatMap((d) => d.findings.filter((f) => f.severity === 'high' || f.severity === 'critical').map((f) => `${d.path}: ${f.excerpt}`));
  assert.deepEqual(high, []);
});
