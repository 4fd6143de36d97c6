/**
 * portcullis attest verify URL --expect-measurement HEX: fetch a gateway's attestation document and check it
 * (src/attestation/verify/verifier.ts); prints every check and the verdict. Exit 0 verified, 1 not verified.
 * Expectations may come from attestation.expect in a configuration file (--config); flags win.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatVerdict, verifyAttestation, type VerifyOptions } from '../attestation/verify/verifier.js';
import { REGISTERS, type Collateral, type Register } from '../attestation/verify/tdxQuote.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'expect-measurement': { type: 'string' },
      'expect-tools': { type: 'string' },
      'expect-key': { type: 'string' },
      'expect-mrtd': { type: 'string' },
      'expect-rtmr': { type: 'string', multiple: true },
      'accept-tcb': { type: 'string', multiple: true },
      nonce: { type: 'string' },
      ca: { type: 'string' },
      'allow-http': { type: 'boolean', default: false },
      'require-tee': { type: 'boolean', default: false },
      collateral: { type: 'string' },
      'pccs-url': { type: 'string' },
      'quote-time': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const [action, url, ...rest] = positionals;
  if (action !== 'verify') throw new UsageError(action === undefined ? 'missing action (verify)' : `unknown action "${action}" (expected verify)`);
  if (url === undefined || rest.length) throw new UsageError('verify takes exactly one URL');
  const expect = values.config !== undefined ? (await loadCliConfig(values.config)).attestation.expect : undefined;

  const measurement = values['expect-measurement'] ?? expect?.measurement;
  if (measurement === undefined) throw new UsageError('--expect-measurement is required (the value "portcullis measure" printed), or attestation.expect.measurement with --config');
  if (!/^[0-9a-fA-F]{64}$/.test(measurement)) throw new UsageError('--expect-measurement must be 64 hex digits');
  const registers: Partial<Record<Register, string>> = {};
  for (const r of REGISTERS) if (expect?.[r] !== undefined) registers[r] = expect[r];
  if (values['expect-mrtd'] !== undefined) registers.mrtd = hex48(values['expect-mrtd'], '--expect-mrtd');
  for (const spec of values['expect-rtmr'] ?? []) {
    const m = /^([0-3])=(.*)$/.exec(spec);
    if (!m) throw new UsageError(`--expect-rtmr takes N=HEX with N from 0 to 3, got "${spec}"`);
    registers[`rtmr${m[1]}` as Register] = hex48(m[2]!, '--expect-rtmr');
  }
  let quoteTime: Date | undefined;
  if (values['quote-time'] !== undefined) {
    quoteTime = new Date(values['quote-time']);
    if (Number.isNaN(quoteTime.getTime())) throw new UsageError('--quote-time must be an ISO 8601 time');
  }
  const opts: VerifyOptions = {
    expectMeasurement: measurement,
    ...(values['expect-tools'] !== undefined && { expectToolsHash: values['expect-tools'] }),
    ...(values['expect-key'] !== undefined && { expectIdentityKey: values['expect-key'] }),
    ...(values.nonce !== undefined && { nonce: values.nonce }),
    ...(values.ca !== undefined && { ca: readFileSync(values.ca) }),
    allowPlainHttp: values['allow-http'],
    requireTee: values['require-tee'],
    tee: {
      registers,
      acceptTcbStatus: values['accept-tcb'] ?? expect?.acceptTcbStatus ?? ['UpToDate'],
      ...(values.collateral !== undefined && { collateral: JSON.parse(readFileSync(values.collateral, 'utf8')) as Collateral }),
      ...(values['pccs-url'] !== undefined && { pccsUrl: values['pccs-url'] }),
      ...(quoteTime && { quoteTime }),
    },
  };
  const verdict = await verifyAttestation(url, opts);
  process.stdout.write(values.json ? JSON.stringify({ ok: verdict.ok, url: verdict.url, mode: verdict.mode, checks: verdict.checks }, null, 2) + '\n' : formatVerdict(verdict));
  return verdict.ok ? 0 : 1;
}

function hex48(v: string, flag: string): string {
  if (!/^[0-9a-fA-F]{96}$/.test(v)) throw new UsageError(`${flag} must be 96 hex digits (48 bytes)`);
  return v.toLowerCase();
}
