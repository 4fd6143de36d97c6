/**
 * `verifyAttestation(url, options)`: fetch a gateway's attestation document and check everything it claims, each
 * step reported on its own (see Check): the document's shape and signature, the pinned identity key, the nonce,
 * the timestamp, the measurement, the tools hash, the TLS key against the live connection, the mode, and in tee
 * mode the hardware quote (tdxQuote.ts) including its report_data binding. The verdict passes only when no check
 * failed; a check without an expectation is skipped, never passed.
 */
import { randomBytes } from 'node:crypto';
import {
  ATTESTATION_PATH, DOCUMENT_VERSION, NONCE_PATTERN, reportDataFor, signatureValid,
  type AttestationDocument, type SignedDocument,
} from '../document.js';
import { publicKeyFromRaw } from '../identityKey.js';
import { fail, pass, passed, skip, type Check } from './checks.js';
import { fetchOver, type FetchOptions } from './fetch.js';
import { verifyTdxQuote, type Collateral, type Register } from './tdxQuote.js';

export interface VerifyOptions extends FetchOptions {
  /** The measurement `portcullis measure` printed for what you audited (hex). Required: without it nothing is proven. */
  expectMeasurement: string;
  /** The tools hash you expect (hex), e.g. from `portcullis measure`. */
  expectToolsHash?: string;
  /** The identity key you pinned on an earlier visit (base64url). */
  expectIdentityKey?: string;
  /** A nonce of your own (16–128 base64url characters); a random one is used when absent. */
  nonce?: string;
  /** Accept a document over plain HTTP (no TLS key to bind; only for loopback testing). */
  allowPlainHttp?: boolean;
  /** Refuse software mode. */
  requireTee?: boolean;
  /** How old the document's timestamp may be (default 300 s), and the clock to judge it by. */
  maxAgeSeconds?: number;
  now?: Date;
  tee?: {
    collateral?: Collateral;
    pccsUrl?: string;
    /** The time the quote's collateral is judged at (default: now). */
    quoteTime?: Date;
    registers?: Partial<Record<Register, string>>;
    acceptTcbStatus?: readonly string[];
  };
}

export interface Verdict {
  ok: boolean;
  url: string;
  mode?: 'tee' | 'software';
  document?: SignedDocument;
  checks: Check[];
}

/** The document's URL for a gateway base URL (or the document URL itself). */
export function attestationUrl(target: string): URL {
  const u = new URL(target);
  if (u.pathname !== ATTESTATION_PATH) u.pathname = u.pathname.replace(/\/+$/, '') + ATTESTATION_PATH;
  return u;
}

export async function verifyAttestation(target: string, opts: VerifyOptions): Promise<Verdict> {
  const url = attestationUrl(target);
  const nonce = opts.nonce ?? randomBytes(24).toString('base64url');
  if (!NONCE_PATTERN.test(nonce)) throw new Error('the nonce must be 16 to 128 base64url characters');
  url.searchParams.set('nonce', nonce);
  const checks: Check[] = [];
  const verdict = (doc?: SignedDocument): Verdict => ({ ok: passed(checks), url: url.href, ...(doc && { mode: doc.document.mode, document: doc }), checks });

  let fetched;
  try {
    fetched = await fetchOver(url, opts);
  } catch (e) {
    checks.push(fail('fetch', `${url.origin}: ${(e as Error).message}`));
    return verdict();
  }
  if (fetched.status !== 200) {
    checks.push(fail('fetch', `HTTP ${fetched.status}: ${fetched.body.slice(0, 200)}`));
    return verdict();
  }
  let signed: SignedDocument;
  try {
    signed = parseSignedDocument(JSON.parse(fetched.body));
    checks.push(pass('document', `${DOCUMENT_VERSION}, mode ${signed.document.mode}`));
  } catch (e) {
    checks.push(fail('document', `not an attestation document: ${(e as Error).message}`));
    return verdict();
  }
  const doc = signed.document;
  const keyRaw = Buffer.from(doc.identityKey.publicKey, 'base64url');
  let keyOk = false;
  try {
    keyOk = signatureValid(signed, publicKeyFromRaw(keyRaw));
  } catch { /* reported below */ }
  checks.push(keyOk ? pass('signature', `Ed25519, identity key ${doc.identityKey.publicKey} (${doc.identityKey.custody})`) : fail('signature', 'the signature does not verify with the identity key the document names'));
  if (opts.expectIdentityKey === undefined) checks.push(skip('identity-key', 'no pinned key given (--expect-key): first use, pin this one'));
  else checks.push(opts.expectIdentityKey === doc.identityKey.publicKey ? pass('identity-key', 'the pinned key') : fail('identity-key', `${doc.identityKey.publicKey}, pinned ${opts.expectIdentityKey}: a different key`));

  checks.push(doc.nonce === nonce ? pass('nonce', 'the document answers this request') : fail('nonce', `${JSON.stringify(doc.nonce)}, sent ${nonce}: a replayed or foreign document`));
  const now = opts.now ?? new Date();
  const age = (now.getTime() - Date.parse(doc.timestamp)) / 1000;
  const maxAge = opts.maxAgeSeconds ?? 300;
  checks.push(Number.isFinite(age) && age <= maxAge && age >= -60 ? pass('timestamp', doc.timestamp) : fail('timestamp', `${doc.timestamp} is not within ${maxAge} s of ${now.toISOString()}`));

  const m = doc.measurement;
  checks.push(m.value === opts.expectMeasurement.toLowerCase()
    ? pass('measurement', `${m.value} as expected`)
    : fail('measurement', `${m.value}, expected ${opts.expectMeasurement} (code ${m.code.tree} ${m.code.sha256}, config ${m.config}, pins ${m.pins})`));
  if (opts.expectToolsHash === undefined) checks.push(skip('tools', `${doc.toolsHash} (no expected tools hash given)`));
  else checks.push(doc.toolsHash === opts.expectToolsHash.toLowerCase() ? pass('tools', `${doc.toolsHash} as expected`) : fail('tools', `${doc.toolsHash}, expected ${opts.expectToolsHash}: the served tools differ`));

  if (fetched.peerSpkiSha256 === null) {
    if (doc.tls !== null) checks.push(fail('tls-binding', 'the document names a TLS key but came over plain HTTP'));
    else checks.push(opts.allowPlainHttp ? skip('tls-binding', 'plain HTTP: the connection is not bound (allowed by --allow-http)') : fail('tls-binding', 'plain HTTP: nothing binds the document to the server you talk to (use https, or --allow-http for a loopback test)'));
  } else if (doc.tls === null) {
    checks.push(fail('tls-binding', 'the connection is TLS but the document names no TLS key: it was not produced by the server that terminated this connection'));
  } else {
    checks.push(doc.tls.spkiSha256 === fetched.peerSpkiSha256
      ? pass('tls-binding', `the live connection's key (SPKI sha256 ${fetched.peerSpkiSha256}) is the one attested`)
      : fail('tls-binding', `the live connection presented key ${fetched.peerSpkiSha256}, the document attests ${doc.tls.spkiSha256}: someone else terminates this connection`));
  }

  if (doc.mode === 'software') {
    checks.push(opts.requireTee ? fail('mode', 'software mode; a TEE is required (--require-tee)') : pass('mode', 'software: proves key continuity and configuration, not the hardware'));
  } else if (!doc.quote) {
    checks.push(fail('mode', 'tee mode without a quote'));
  } else if (doc.quote.format !== 'tdx') {
    checks.push(pass('mode', `tee (${doc.quote.format})`));
    checks.push(fail('quote', `${doc.quote.format} quotes cannot be verified by this verifier yet; verify the quote with the vendor's tools`));
  } else {
    checks.push(pass('mode', 'tee (tdx)'));
    let expected: Buffer | undefined;
    try {
      expected = reportDataFor({ identityKey: keyRaw, spkiSha256: doc.tls?.spkiSha256 ?? null, toolsHash: doc.toolsHash, nonce: doc.nonce, measurement: m.value });
    } catch (e) {
      checks.push(fail('quote.report-data', `cannot compute the binding: ${(e as Error).message}`));
    }
    const t = opts.tee ?? {};
    const q = await verifyTdxQuote(Buffer.from(doc.quote.data, 'base64'), {
      ...(t.collateral && { collateral: t.collateral }), ...(t.pccsUrl && { pccsUrl: t.pccsUrl }), now: t.quoteTime ?? now,
      expect: { ...(t.registers && { registers: t.registers }), ...(t.acceptTcbStatus && { acceptTcbStatus: t.acceptTcbStatus }), ...(expected && { reportData: expected }) },
    });
    checks.push(...q.checks);
  }
  return verdict(signed);
}

/** Shape checks: every field the checks read, with its type. */
export function parseSignedDocument(v: unknown): SignedDocument {
  const o = obj(v, 'the response');
  const d = obj(o.document, 'document') as unknown as AttestationDocument & Record<string, unknown>;
  if (typeof o.signature !== 'string') throw new Error('signature missing');
  if (d.version !== DOCUMENT_VERSION) throw new Error(`unknown version ${JSON.stringify(d.version)}`);
  if (d.mode !== 'tee' && d.mode !== 'software') throw new Error('mode must be "tee" or "software"');
  const m = obj(d.measurement, 'measurement');
  const code = obj(m.code, 'measurement.code');
  for (const [k, x] of [['measurement.value', m.value], ['measurement.config', m.config], ['measurement.pins', m.pins], ['measurement.code.sha256', code.sha256], ['toolsHash', d.toolsHash]] as const) hex64(x, k);
  const key = obj(d.identityKey, 'identityKey');
  if (key.alg !== 'Ed25519' || typeof key.publicKey !== 'string' || typeof key.custody !== 'string') throw new Error('identityKey must be an Ed25519 public key');
  if (d.tls !== null) hex64(obj(d.tls, 'tls').spkiSha256, 'tls.spkiSha256');
  if (d.nonce !== null && typeof d.nonce !== 'string') throw new Error('nonce must be a string or null');
  if (typeof d.timestamp !== 'string') throw new Error('timestamp missing');
  if (d.quote !== undefined) {
    const q = obj(d.quote, 'quote');
    if (typeof q.format !== 'string' || typeof q.data !== 'string') throw new Error('quote must have a format and data');
  }
  return o as unknown as SignedDocument;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function hex64(v: unknown, what: string): void {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new Error(`${what} must be 64 lowercase hex digits`);
}

export function formatVerdict(v: Verdict): string {
  const mark = { pass: 'ok  ', fail: 'FAIL', skip: 'skip' } as const;
  const lines = v.checks.map((c) => `  ${mark[c.status]}  ${c.name.padEnd(18)} ${c.detail}`);
  const head = v.ok
    ? `VERIFIED: ${v.url} (${v.mode} mode)${v.mode === 'software' ? ' - software mode proves key continuity and configuration, not the hardware' : ''}`
    : `NOT VERIFIED: ${v.url}`;
  return `${head}\n${lines.join('\n')}\n`;
}
