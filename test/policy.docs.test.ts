/**
 * Docs that cannot rot: every `policy:` example in docs/policy.md compiles, the decision table there passes against
 * the worked examples, and the explain example prints what the page shows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { compilePolicy, explainCommand, testCommand, type PolicyCommandInput, type PolicyDocument } from '../src/policy/index.js';

const DOC = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');
const SERVERS = ['filesystem', 'memory', 'crm'];

interface Block {
  lang: string;
  text: string;
  section: string;
}

function blocks(md: string): Block[] {
  const out: Block[] = [];
  let section = '';
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('## ')) section = line.slice(3);
    const open = /^```(\w*)$/.exec(line);
    if (!open) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string);
    out.push({ lang: open[1] ?? '', text: body.join('\n'), section });
  }
  return out;
}

const all = blocks(DOC);
const policies = all.filter((b) => b.lang === 'yaml' && b.text.startsWith('policy:'));
const worked = policies.filter((b) => b.section === 'Worked examples').map((b) => (parseYaml(b.text) as { policy: PolicyDocument }).policy);
const merged: PolicyDocument = {
  roles: Object.assign({}, ...worked.map((p) => p.roles ?? {})),
  rules: worked.flatMap((p) => p.rules ?? []),
};
const INPUT: PolicyCommandInput = { policy: merged, servers: SERVERS };

describe('docs/policy.md', () => {
  it('every policy example compiles', () => {
    assert.ok(policies.length >= 6, `found ${policies.length} examples`);
    for (const b of policies) assert.doesNotThrow(() => compilePolicy((parseYaml(b.text) as { policy: unknown }).policy, { servers: SERVERS }), b.text);
    assert.doesNotThrow(() => compilePolicy(merged, { servers: SERVERS }));
  });

  it('the decision table passes against the worked examples', () => {
    const table = all.find((b) => b.lang === 'yaml' && b.text.startsWith('# policy-tests.yaml'));
    assert.ok(table);
    const r = testCommand(INPUT, { name: 'policy-tests.yaml', text: table.text });
    assert.equal(r.exitCode, 0, r.text);
  });

  it('the explain example prints what the page shows', () => {
    const i = all.findIndex((b) => b.lang === 'sh' && b.text.includes('portcullis policy explain'));
    const cmd = all[i]?.text.replace(/\\\n\s*/g, '') ?? '';
    const flag = (name: string) => new RegExp(`--${name} (?:'([^']*)'|(\\S+))`).exec(cmd)?.slice(1).find((x) => x !== undefined);
    const r = explainCommand(INPUT, { principal: flag('principal') ?? '', tool: flag('tool'), args: flag('args'), time: flag('time') });
    assert.equal(r.exitCode, 0, r.text);
    assert.equal(r.text, all[i + 1]?.text);
  });
});
