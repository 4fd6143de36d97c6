/** The audit log's parts: canonical encoding, content modes, record bounds, the signing key, checkpoints, drivers. */
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canonicalJson, digest } from '../src/core/canonical.js';
import { canonicalRecordJson, chainRow, encodeEvent, GENESIS, hashBody } from '../src/audit/chain.js';
import { boundEvent, contentRenderer } from '../src/audit/content.js';
import { existingTrustedKeys, fileKeyStore, memoryKeyStore, SIGNING_KEY_FILE } from '../src/audit/keys.js';
import { checkpointSigned, signCheckpoint } from '../src/audit/checkpoint.js';
import { auditDriver } from '../src/audit/open.js';
import { parseConfig } from '../src/config/load.js';
import type { AuditEvent } from '../src/audit/record.js';
import { rng } from './support/random.js';

function randomJson(next: () => number, depth = 0): unknown {
  const r = next();
  if (depth > 3 || r < 0.3) {
    const kind = Math.floor(next() * 5);
    if (kind === 0) return null;
    if (kind === 1) return next() < 0.5;
    if (kind === 2) return Math.round((next() - 0.5) * 1e6) / (next() < 0.5 ? 1 : 1000);
    if (kind === 3) return undefined;
    return String.fromCodePoint(...Array.from({ length: Math.floor(next() * 6) }, () => [0x61, 0x7a, 0x22, 0x5c, 0x0a, 0xe9, 0x1f600, 0x31][Math.floor(next() * 8)]!));
  }
  if (r < 0.6) return Array.from({ length: Math.floor(next() * 4) }, () => randomJson(next, depth + 1));
  const keys = ['b', 'a', '10', '2', 'é', 'A', '_', 'aa', '😀', ''];
  return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [keys[Math.floor(next() * keys.length)]!, randomJson(next, depth + 1)]));
}

describe('canonical encoding of records', () => {
  it('canonicalRecordJson is canonicalJson, byte for byte (2,000 random values)', () => {
    const next = rng(20261122);
    for (let i = 0; i < 2000; i++) {
      const v = randomJson(next);
      assert.equal(canonicalRecordJson(v), canonicalJson(v), JSON.stringify(v));
    }
    assert.throws(() => canonicalRecordJson({ a: Number.NaN }), /non-finite/);
  });

  it('a record joined from its encoded pieces is the canonical JSON of the event with seq and prev (2,000 random events)', () => {
    const next = rng(7);
    const keys = ['type', 'outcome', 'p', 'prev0', 'principal', 'r', 'result', 'requestId', 's', 'sa', 'seq0', 'session', 'z', 'a', 'detail'];
    for (let i = 0; i < 2000; i++) {
      const event = Object.fromEntries(keys.filter(() => next() < 0.4).map((k) => [k, randomJson(next)])) as unknown as AuditEvent;
      (event as { type: string }).type = 'request';
      const time = Math.floor(next() * 1e12);
      const row = chainRow(encodeEvent({ ...event, time }), i + 1, i ? 'h' + i : GENESIS);
      assert.equal(row.body, canonicalJson({ ...event, time, seq: i + 1, prev: i ? 'h' + i : GENESIS }));
      assert.equal(row.hash, hashBody(row.body));
    }
    const forged = chainRow({ type: 'request', seq: 99, prev: 'x', hash: 'y' } as AuditEvent, 1, GENESIS);
    assert.deepEqual([JSON.parse(forged.body).seq, JSON.parse(forged.body).prev, JSON.parse(forged.body).hash], [1, GENESIS, undefined], 'an event cannot set the chain fields');
  });
});

describe('content modes and record bounds', () => {
  const args = { path: '/srv/reports/q1.txt' };
  it('none keeps nothing, hashes a digest, full the value', () => {
    assert.equal(contentRenderer('none')(args, 'argument'), undefined);
    assert.deepEqual(contentRenderer('hashes')(args, 'argument'), { sha256: digest(args) });
    assert.equal(contentRenderer('hashes')(undefined, 'argument'), undefined);
    assert.equal(contentRenderer('full')(args, 'argument'), args);
  });

  it('redacted replaces personal data and secrets, and keeps the rest', () => {
    const out = contentRenderer('redacted')({ to: 'jane.doe@example.com', note: 'see ticket 42' }, 'argument') as Record<string, string>;
    assert.match(out.to!, /^\[REDACTED:[^\]]+\]$/);
    assert.equal(out.note, 'see ticket 42');
  });

  const base: AuditEvent = { type: 'request', principal: 'alice', method: 'tools/call', outcome: 'ok' };
  it('an event under the bound is kept as it is', () => {
    const e = { ...base, arguments: { x: 'y' } };
    assert.equal(boundEvent(e, 4096), e);
  });

  it('content over the bound becomes a marker with its size and digest; then detail; then every string', () => {
    const big = { text: 'é'.repeat(3000) };
    const e = boundEvent({ ...base, arguments: big, result: { ok: true }, detail: { note: 'kept?' } }, 4096);
    assert.deepEqual(e.arguments, { truncated: true, bytes: Buffer.byteLength(JSON.stringify(big)), sha256: digest(big) });
    assert.deepEqual(e.result, { truncated: true, bytes: 11, sha256: digest({ ok: true }) }, 'both content fields give way');
    assert.deepEqual(e.detail, { note: 'kept?' }, 'detail stays when content alone was enough');
    const huge = boundEvent({ ...base, detail: { blob: 'x'.repeat(10_000) }, error: { code: 'internal_error', message: 'm'.repeat(10_000) } }, 4096);
    assert.equal((huge.detail as { truncated: boolean }).truncated, true);
    assert.ok(huge.error!.message.length < 1100);
    const absurd = boundEvent({ ...base, principal: 'p'.repeat(20_000) }, 4096);
    assert.ok(Buffer.byteLength(JSON.stringify(absurd)) < 4096);
    assert.equal(absurd.type, 'request', 'the record is still there');
  });
});

describe('signing key and checkpoints', () => {
  it('the key file is created once, 0600, and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-audit-key-'));
    assert.equal(existingTrustedKeys(dir, {}).size, 0, 'verifying never creates a key');
    const a = fileKeyStore(dir, {}).signingKey();
    assert.equal(statSync(join(dir, SIGNING_KEY_FILE)).mode & 0o777, 0o600);
    const b = fileKeyStore(dir, {}).signingKey();
    assert.equal(a.keyId, b.keyId);
    assert.deepEqual([...existingTrustedKeys(dir, {}).keys()], [a.keyId]);
  });

  it('a checkpoint verifies with its key only, and not once any field changes', () => {
    const keys = memoryKeyStore();
    const cp = signCheckpoint({ seq: 10, hash: 'abc', time: 1 }, keys.signingKey(), 1234);
    assert.equal(checkpointSigned(cp, keys.trustedKeys()), true);
    assert.equal(checkpointSigned(cp, memoryKeyStore().trustedKeys()), false, 'another key');
    for (const changed of [{ seq: 11 }, { hash: 'abd' }, { time: 1235 }, { signature: cp.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }]) {
      assert.equal(checkpointSigned({ ...cp, ...changed }, keys.trustedKeys()), false, JSON.stringify(changed));
    }
  });
});

describe('where the audit log is kept', () => {
  const config = (yaml: string) => parseConfig(`upstreams: {}\n${yaml}`, { source: 'test' });
  it('follows the storage driver; refuses redis unless told where', () => {
    assert.equal(auditDriver(config('')), 'sqlite');
    assert.equal(auditDriver(config('storage: { driver: memory }\n')), 'memory');
    assert.equal(auditDriver(config('storage: { driver: postgres }\n')), 'postgres');
    assert.throws(() => auditDriver(config('storage: { driver: redis }\n')), /cannot hold the audit log: set audit.driver to "sqlite" .* or "postgres"/);
    assert.equal(auditDriver(config('storage: { driver: redis }\naudit: { driver: postgres }\n')), 'postgres');
    assert.equal(auditDriver(config('storage: { driver: memory }\n'), 'sqlite'), 'sqlite', 'the storage actually in use');
  });
});
