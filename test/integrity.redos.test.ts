/**
 * No detector may backtrack catastrophically. Each one is fed ~100k-character strings made of near-matches of its
 * expressions (a prefix repeated, a prefix followed by a long run of the characters it accepts, an almost-complete
 * match repeated) and must finish well under a second. The bound is generous on purpose (the real budget is in
 * bench/integrity-scan.ts): a quadratic expression takes minutes on these inputs, not milliseconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_DETECTORS } from '../src/integrity/detectors/index.js';
import type { FieldContext, Target } from '../src/integrity/finding.js';
import { matchView } from '../src/integrity/matchView.js';
import { escapeForReview, findHidden } from '../src/integrity/text.js';

const SIZE = 100_000;
const BUDGET_MS = 1000;

const fill = (unit: string) => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
const prefixed = (prefix: string, run: string) => prefix + fill(run);
const tags = (s: string) => [...s].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');

/** Near-matches grouped by what they attack; every detector gets all of them. */
const ADVERSARIAL: Record<string, string> = {
  'letters': fill('a'),
  'uppercase alphanumerics': fill('A1'),
  'digits': fill('1'),
  'spaced digits': fill('1 '),
  'dashed digits': fill('4-'),
  'card-like groups': fill('4111 '),
  'spaces': fill(' '),
  'words': fill('lorem ipsum dolor '),
  'override prefix': fill('ignore all the previous '),
  'override without object': fill('ignore previous '),
  'conceal gap': prefixed('do not tell ', 'x '),
  'conceal prefix': fill('do not tell '),
  'pseudo-tag open': fill('<important '),
  'pseudo-tag long attributes': prefixed('<system ', 'a'),
  'chat tokens': fill('<|im_start'),
  'heading': fill('### system\n#'),
  'precondition': fill('before using this tool '),
  'rug-pull': fill('now that this tool is '),
  'send object': fill('send the contents '),
  'send without destination': fill('send the contents of x to the '),
  'curl': fill('curl '),
  'curl upload': fill('curl -d '),
  'curl pipe': prefixed('curl ', 'x'),
  'base64 pipe': fill('base64 -w 0 '),
  'urls': fill('https://'),
  'url ip': fill('https://1.2.3.'),
  'url userinfo': fill('http://a:b'),
  'capture host': prefixed('https://', 'a.'),
  'onion': fill('abcdefghijklmnop.'),
  'eyJ': fill('eyJ'),
  'jwt two parts': fill('eyJhbGciOi.eyJzdWIi'),
  'jwt runs': fill(`eyJ${'a'.repeat(50)}.`),
  'AKIA': fill('AKIA'),
  'aws secret assignment': fill('aws_secret_access_key='),
  'aws secret long value': prefixed('aws_secret_access_key=', 'A'),
  'pem header': fill('-----BEGIN RSA PRIVATE KEY-----'),
  'pem without end': prefixed('-----BEGIN PRIVATE KEY-----', 'A'),
  'gcp key': fill('"private_key": "-----BEGIN'),
  'gcp key without end': prefixed('"private_key": "-----BEGIN', 'a'),
  'ghp': fill('ghp_'),
  'github pat long': prefixed('github_pat_', 'a'),
  'slack': fill('xoxb-'),
  'stripe': fill('sk_live_'),
  'authorization': fill('authorization: bearer '),
  'authorization long': prefixed('authorization: bearer ', 'a'),
  'url password': fill('://a:b'),
  'url password long': prefixed('://a:', 'b'),
  'iban prefix': fill('DE89'),
  'iban groups': fill('DE89 3704 '),
  'email at': fill('a@'),
  'email dots': prefixed('x@', 'a.'),
  'email local run': prefixed('', 'a.') + '@',
  'phone plus': fill('+1'),
  'phone plus spaced': fill('+1 '),
  'phone parens': fill('+12 (123) '),
  'phone na': fill('123-'),
  'your response': fill('your response '),
  'order without object': prefixed('add ', 'x '),
  'code phrase': fill('the following code snippet '),
  'tool phrase': fill('when the x tool is '),
  'tool names': fill('send_email '),
  'other tools order': fill('all other tools '),
  'zero-width': fill('\u200b'),
  'zero-width between letters': fill('a\u200b'),
  'joiners': fill('\u0645\u200c'),
  'bidi': fill('\u202e'),
  'tags': fill(tags('ignore ')),
  'variation selectors': fill('\ufe00'),
  'fullwidth': fill('\uff49\uff47\uff4e\uff4f\uff52\uff45\u3000'),
  'ansi csi': fill('\x1b['),
  'ansi osc': fill('\x1b]'),
  'controls': fill('\x00\x01'),
  'side-channel phrase': fill('full conversation '),
};

const FIELD: Record<Target, FieldContext> = {
  definition: {
    target: 'definition', path: 'inputSchema.properties.feedback.description', fieldKind: 'description', propertyName: 'feedback',
    item: { kind: 'tool', name: 't', description: 'A tool.' }, knownTools: new Set(['send_email', 'x']),
  },
  result: { target: 'result', path: 'content[0].text' },
  argument: { target: 'argument', path: 'arguments.text' },
};

test(`every detector scans ${Object.keys(ADVERSARIAL).length} adversarial 100k-character inputs in under ${BUDGET_MS} ms each`, (t) => {
  const timings: { ms: number; what: string }[] = [];
  for (const detector of ALL_DETECTORS) {
    for (const target of detector.appliesTo) {
      for (const [name, text] of Object.entries(ADVERSARIAL)) {
        const start = performance.now();
        detector.scan(text, FIELD[target]);
        const ms = performance.now() - start;
        timings.push({ ms, what: `${detector.id} (${target}) on "${name}"` });
        assert.ok(ms < BUDGET_MS, `${detector.id} (${target}) took ${ms.toFixed(0)} ms on "${name}"`);
      }
    }
  }
  const slowest = timings.sort((a, b) => b.ms - a.ms).slice(0, 3);
  t.diagnostic(`slowest: ${slowest.map((s) => `${s.what} ${s.ms.toFixed(1)} ms`).join('; ')}`);
});

test('text helpers are linear on the same inputs', () => {
  for (const [name, text] of Object.entries(ADVERSARIAL)) {
    const start = performance.now();
    findHidden(text);
    matchView(text);
    escapeForReview(text);
    const ms = performance.now() - start;
    assert.ok(ms < BUDGET_MS, `text helpers took ${ms.toFixed(0)} ms on "${name}"`);
  }
});
