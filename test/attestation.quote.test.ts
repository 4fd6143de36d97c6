/**
 * The TDX quote checks on a real quote and its collateral (test/corpus/tdx-quote-sample), judged at a fixed time
 * inside the collateral's validity, and negative cases made from it: a flipped report_data byte, a changed
 * measurement register, an expired time, a truncated quote, wrong expectations. The real quote was not made for
 * our key, so the report_data binding is checked against the quote's own report_data (and a flipped byte of it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyTdxQuote, type Collateral, type TdxVerifyOptions } from '../src/attestation/verify/tdxQuote.js';
import type { Check } from '../src/attestation/verify/checks.js';
import { passed } from '../src/attestation/verify/checks.js';
import { ROOT, startTestGateway } from './support/gateway.js';
import type { TsmFs } from '../src/attestation/providers/configfsTsm.js';
import { ATTESTATION_PATH, PLAIN_HTTP_NOTE, reportDataFor } from '../src/attestation/document.js';
import { verifyAttestation } from '../src/attestation/verify/verifier.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const dir = join(ROOT, 'test', 'corpus', 'tdx-quote-sample');
const QUOTE = readFileSync(join(dir, 'tdx_quote'));
const COLLATERAL = JSON.parse(readFileSync(join(dir, 'tdx_quote_collateral.json'), 'utf8')) as Collateral;
/** Inside the collateral's window (TCB info issued 2025-06-19T10:16:03Z, next update 2025-07-19T10:16:03Z). */
const AT = new Date('2025-07-01T00:00:00Z');

// What this quote holds (read from it once with an independent parser: dcap-qvl's Quote.parse, and cross-checked
// against the byte offsets of the TDX quote v4 layout below).
const MRTD = '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7';
const RTMR0 = '44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0';
const REPORT_DATA = '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20';
// TDX quote v4: a 48-byte header, then the TD report: TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8,
// TDATTRIBUTES 8, XFAM 8, MRTD 48, MRCONFIGID 48, MROWNER 48, MROWNERCONFIG 48, RTMR0..3 48 each, REPORTDATA 64.
const OFF_TDATTRIBUTES = 48 + 16 + 48 + 48 + 8;
const OFF_MRTD = OFF_TDATTRIBUTES + 8 + 8;
const OFF_RTMR0 = OFF_MRTD + 48 * 4;
const OFF_REPORT_DATA = OFF_RTMR0 + 48 * 4;

const base = (over: Partial<TdxVerifyOptions['expect']> = {}, opts: Partial<TdxVerifyOptions> = {}): TdxVerifyOptions => ({
  collateral: COLLATERAL, now: AT, expect: { registers: { mrtd: MRTD, rtmr0: RTMR0 }, reportData: Buffer.from(REPORT_DATA, 'hex'), ...over }, ...opts,
});
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));
const flip = (buf: Buffer, at: number): Buffer => { const b = Buffer.from(buf); b[at] = b[at]! ^ 0x01; return b; };

describe('TDX quote verification (real quote, supplied collateral, fixed time)', () => {
  test('the layout offsets used by the negative cases point at the values the parser reads', () => {
    assert.equal(QUOTE.subarray(OFF_MRTD, OFF_MRTD + 48).toString('hex'), MRTD);
    assert.equal(QUOTE.subarray(OFF_RTMR0, OFF_RTMR0 + 48).toString('hex'), RTMR0);
    assert.equal(QUOTE.subarray(OFF_REPORT_DATA, OFF_REPORT_DATA + 64).toString('hex'), REPORT_DATA);
  });

  test('the genuine quote passes every check: chain and signatures, TCB UpToDate, not debug, MRTD, RTMR0, report_data', async () => {
    const { checks, report } = await verifyTdxQuote(QUOTE, base());
    const c = byName(checks);
    assert.ok(passed(checks), JSON.stringify(checks, null, 2));
    for (const name of ['quote.parse', 'quote.signature', 'quote.tcb-status', 'quote.debug', 'quote.mrtd', 'quote.rtmr0', 'quote.report-data']) assert.equal(c[name]?.status, 'pass', name);
    assert.equal(c['quote.rtmr1']?.status, 'skip', 'a register without expectation is reported, never passed');
    assert.equal(report?.tcbStatus, 'UpToDate');
    assert.equal(report?.registers.mrtd, MRTD);
  });

  test('a flipped report_data byte breaks the quote signature and the binding', async () => {
    const { checks } = await verifyTdxQuote(flip(QUOTE, OFF_REPORT_DATA + 5), base());
    const c = byName(checks);
    assert.equal(passed(checks), false);
    assert.equal(c['quote.signature']?.status, 'fail');
    assert.equal(c['quote.report-data']?.status, 'fail');
  });

  test('the binding itself: a report_data other than the expected one fails even on a genuine quote', async () => {
    const { checks } = await verifyTdxQuote(QUOTE, base({ reportData: flip(Buffer.from(REPORT_DATA, 'hex'), 0) }));
    const c = byName(checks);
    assert.equal(c['quote.signature']?.status, 'pass');
    assert.equal(c['quote.report-data']?.status, 'fail');
    assert.match(c['quote.report-data']!.detail, /not made for this document/);
  });

  test('a changed measurement register (RTMR0) breaks the signature and the expectation', async () => {
    const { checks } = await verifyTdxQuote(flip(QUOTE, OFF_RTMR0 + 10), base());
    const c = byName(checks);
    assert.equal(c['quote.signature']?.status, 'fail');
    assert.equal(c['quote.rtmr0']?.status, 'fail');
    assert.equal(c['quote.mrtd']?.status, 'pass');
  });

  test('an unexpected MRTD on a genuine quote fails that check alone', async () => {
    const other = MRTD.replace(/^../, '00');
    const { checks } = await verifyTdxQuote(QUOTE, base({ registers: { mrtd: other } }));
    const failed = checks.filter((x) => x.status === 'fail').map((x) => x.name);
    assert.deepEqual(failed, ['quote.mrtd']);
  });

  test('a time after the collateral expired fails; so does a time before it was issued', async () => {
    for (const when of [new Date('2025-08-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z')]) {
      const c = byName((await verifyTdxQuote(QUOTE, base({}, { now: when }))).checks);
      assert.equal(c['quote.signature']?.status, 'fail', when.toISOString());
      assert.match(c['quote.signature']!.detail, /expired/i);
    }
    const early = byName((await verifyTdxQuote(QUOTE, base({}, { now: new Date('2025-06-01T00:00:00Z') }))).checks);
    assert.equal(early['quote.signature']?.status, 'fail');
  });

  test('a truncated quote is refused', async () => {
    // The structure ends where the signature data's declared length says (the sample carries zero padding after it).
    const end = OFF_REPORT_DATA + 64 + 4 + QUOTE.readUInt32LE(OFF_REPORT_DATA + 64);
    assert.ok(end < QUOTE.length && QUOTE.subarray(end).every((b) => b === 0));
    for (const len of [end - 1, end - 600, 700, 40]) {
      const { checks } = await verifyTdxQuote(QUOTE.subarray(0, len), base());
      assert.equal(passed(checks), false, `truncated to ${len}`);
      assert.ok(checks.some((x) => (x.name === 'quote.parse' || x.name === 'quote.signature') && x.status === 'fail'), `truncated to ${len}: ${JSON.stringify(checks)}`);
    }
  });

  test('a TCB status outside the accepted list fails', async () => {
    const c = byName((await verifyTdxQuote(QUOTE, base({ acceptTcbStatus: ['SWHardeningNeeded'] }))).checks);
    assert.equal(c['quote.tcb-status']?.status, 'fail');
    assert.match(c['quote.tcb-status']!.detail, /UpToDate; accepted: SWHardeningNeeded/);
  });

  test('debug mode is rejected (TDATTRIBUTES.TUD set; the signature then fails too)', async () => {
    const debug = Buffer.from(QUOTE);
    debug[OFF_TDATTRIBUTES] = debug[OFF_TDATTRIBUTES]! | 0x01;
    const c = byName((await verifyTdxQuote(debug, base())).checks);
    assert.equal(c['quote.debug']?.status, 'fail');
    assert.equal(c['quote.signature']?.status, 'fail');
  });

  test('tampered collateral fails the chain', async () => {
    const tcb = JSON.parse(COLLATERAL.tcb_info) as { tcbLevels: Array<{ tcbStatus: string }> };
    tcb.tcbLevels[0]!.tcbStatus = 'UpToDate';
    const forged = { ...COLLATERAL, tcb_info: JSON.stringify({ ...tcb, nextUpdate: '2099-01-01T00:00:00Z' }) };
    const c = byName((await verifyTdxQuote(QUOTE, base({}, { collateral: forged, now: new Date('2026-01-01T00:00:00Z') }))).checks);
    assert.equal(c['quote.signature']?.status, 'fail');
  });
});

describe('tee mode through the gateway (configfs-tsm simulated, answering with the sample quote)', () => {
  test('the document embeds the quote and the report_data it asked for; a quote not made for it fails the binding', async () => {
    // A configfs whose TEE answers every report with the sample quote: a genuine quote, but for someone else's
    // report_data, which is exactly what a relay of another machine's quote looks like.
    const asked: Buffer[] = [];
    const gen = new Map<string, number>();
    const fs: TsmFs = {
      async mkdir(p) { gen.set(p, 0); },
      async rmdir(p) { gen.delete(p); },
      async writeFile(p, d) { asked.push(d); const dir = p.replace(/\/inblob$/, ''); gen.set(dir, gen.get(dir)! + 1); },
      async readFile(p) {
        const dir = p.replace(/\/[a-z]+$/, '');
        if (p.endsWith('/generation')) return Buffer.from(String(gen.get(dir)));
        if (p.endsWith('/provider')) return Buffer.from('tdx_guest\n');
        return QUOTE;
      },
    };
    const root = mkdtempSync(join(tmpdir(), 'pc-tsm-'));
    const gw = await startTestGateway('upstreams: {}\nattestation: { dstackSocket: /nonexistent/dstack.sock }\n', {}, { attestation: { detect: { configfsRoot: root, configfsFs: fs } } });
    try {
      const v = await verifyAttestation(gw.url, {
        expectMeasurement: (await gw.gateway.attestation!.measurement()).value, allowPlainHttp: true, nonce: 'tee-mode-nonce-0123456789',
        tee: { collateral: COLLATERAL, quoteTime: AT, registers: { mrtd: MRTD } },
      });
      const doc = v.document!.document;
      assert.equal(doc.mode, 'tee');
      assert.ok(doc.statement.endsWith(PLAIN_HTTP_NOTE), 'over plain HTTP the document says nothing binds it');
      assert.equal(doc.tls, null);
      assert.equal(doc.platform.provider, 'configfs-tsm');
      assert.equal(doc.quote?.format, 'tdx');
      assert.deepEqual(Buffer.from(doc.quote!.data, 'base64'), QUOTE);
      const bound = reportDataFor({ identityKey: Buffer.from(doc.identityKey.publicKey, 'base64url'), spkiSha256: null, toolsHash: doc.toolsHash, nonce: doc.nonce, measurement: doc.measurement.value });
      assert.deepEqual(asked.at(-1), bound, 'the gateway asked the TEE to bind key, tools, measurement and nonce');
      assert.equal(doc.quote!.reportData, bound.toString('hex'));
      const c = byName(v.checks);
      for (const name of ['signature', 'nonce', 'measurement', 'quote.signature', 'quote.tcb-status', 'quote.debug', 'quote.mrtd']) assert.equal(c[name]?.status, 'pass', name);
      assert.equal(c['quote.report-data']?.status, 'fail');
      assert.equal(v.ok, false, 'a genuine quote made for another report_data never verifies');
    } finally {
      await gw.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('documents waiting on the hardware are capped: beyond 16 at once the answer is 503 with Retry-After', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const gen = new Map<string, number>();
    const fs: TsmFs = {
      async mkdir(p) { gen.set(p, 0); },
      async rmdir(p) { gen.delete(p); },
      async writeFile(p) { const dir = p.replace(/\/inblob$/, ''); gen.set(dir, gen.get(dir)! + 1); },
      async readFile(p) {
        const dir = p.replace(/\/[a-z]+$/, '');
        if (p.endsWith('/generation')) return Buffer.from(String(gen.get(dir)));
        if (p.endsWith('/provider')) return Buffer.from('tdx_guest');
        await held; // the TEE is slow
        return QUOTE;
      },
    };
    const root = mkdtempSync(join(tmpdir(), 'pc-tsm-'));
    const gw = await startTestGateway('upstreams: {}\nattestation: { dstackSocket: /nonexistent/dstack.sock }\n', {}, { attestation: { detect: { configfsRoot: root, configfsFs: fs } } });
    try {
      const waiting = Array.from({ length: 16 }, () => fetch(`${gw.url}${ATTESTATION_PATH}`));
      await new Promise((r) => setTimeout(r, 300));
      const refused = await fetch(`${gw.url}${ATTESTATION_PATH}`);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      release();
      for (const r of await Promise.all(waiting)) assert.equal(r.status, 200);
      assert.equal((await fetch(`${gw.url}${ATTESTATION_PATH}`)).status, 200);
    } finally {
      release();
      await gw.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
