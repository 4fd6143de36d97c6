/**
 * Cost of content scanning on the hot path: every detector that applies to tool results, run over a typical 10 KB
 * text result, timed per scan. Budget: 0.3 ms p50.
 *
 *   npx tsx bench/integrity-scan.ts [--iterations N]
 *
 * Three 10 KB inputs: markdown documentation (prose, code, links), a JSON listing (keys, numbers, paths) and the same
 * documentation with hidden characters and non-ASCII text (the slower, folding path of the pattern detectors).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createScanner } from '../src/integrity/scanner.js';

const require = createRequire(import.meta.url);
const SIZE = 10 * 1024;

function repeatTo(text: string, size: number): string {
  let out = '';
  while (out.length < size) out += text;
  return out.slice(0, size);
}

function inputs(): Record<string, string> {
  const docs = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'docs');
  const markdown = repeatTo(readFileSync(join(docs, 'architecture.md'), 'utf8') + readFileSync(join(docs, 'features.md'), 'utf8'), SIZE);
  const listing = repeatTo(JSON.stringify(Array.from({ length: 200 }, (_, i) => ({
    name: `file-${i}.ts`, path: `/workspace/project/src/module-${i % 17}/file-${i}.ts`, size: 1024 + i * 37, modified: `2025-0${1 + (i % 9)}-1${i % 10}T10:${10 + (i % 50)}:00Z`, type: i % 5 ? 'file' : 'directory',
  })), null, 1), SIZE);
  const mixed = repeatTo(`${markdown.slice(0, 3000)} Grüße aus Köln — ça va? 東京の天気は晴れです。 zero\u200bwidth \u202Ebidi\u202C ${markdown.slice(3000, 6000)}`, SIZE);
  return { 'markdown 10 KB': markdown, 'JSON listing 10 KB': listing, 'markdown + non-ASCII 10 KB': mixed };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '5000' } } });
const iterations = Number(values.iterations);
const scanner = createScanner();
const detectors = scanner.detectors.filter((d) => d.appliesTo.has('result')).map((d) => d.id);
console.log(`content detectors (${detectors.length}): ${detectors.join(', ')}`);
console.log(`node ${process.version}, ${iterations} timed scans per input after ${Math.min(iterations, 1000)} warm-up scans\n`);

for (const [name, text] of Object.entries(inputs())) {
  const result = { content: [{ type: 'text', text }] };
  let findings = 0;
  for (let i = 0; i < Math.min(iterations, 1000); i++) findings = scanner.scanContent(result, 'result').length;
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    scanner.scanContent(result, 'result');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(28)} p50 ${percentile(times, 0.5).toFixed(3)} ms   p95 ${percentile(times, 0.95).toFixed(3)} ms   p99 ${percentile(times, 0.99).toFixed(3)} ms   (${text.length} chars, ${findings} findings)`);
}
