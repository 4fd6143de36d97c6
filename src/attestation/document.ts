/**
 * The attestation document and its signature. The signed body is the canonical JSON (src/core/canonical.ts) of
 * `document`; the signature is Ed25519 by the identity key the document names. In tee mode the hardware quote's
 * report_data binds the rest:
 *
 *   report_data[0..32]  = sha256(identity public key (32 raw bytes) ‖ TLS SPKI hash (32 bytes, zeros over plain HTTP)
 *                                ‖ tools hash (32 bytes) ‖ nonce (UTF-8))
 *   report_data[32..64] = the measurement (32 bytes)
 *
 * so a verified quote proves that this key, this TLS key, these tools and this measurement were claimed by software
 * inside that TEE, in answer to this nonce.
 */
import { createHash, sign, verify as verifySignature, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical.js';
import type { Measurement } from './measurement.js';
import type { QuoteFormat } from './providers/types.js';

export const DOCUMENT_VERSION = 'portcullis-attestation/1';
export const ATTESTATION_PATH = '/.well-known/mcp-attestation';
/** The `server/discover` `_meta` key naming the document. */
export const DISCOVER_META_KEY = 'io.portcullis/attestation';
/** A nonce: base64url characters, long enough to be unguessable, short enough to bind cheaply. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export const SOFTWARE_STATEMENT =
  'Software mode: no trusted execution environment is available to this gateway. This document is signed by the ' +
  "gateway's identity key only. It proves that the holder of this key (the same key as on earlier visits, if you " +
  'pinned it) claims this measurement of its code, configuration and pinned tools, serves these tools, and terminates ' +
  'TLS with this key. It does not prove what hardware or operator runs it: whoever controls the machine controls the key.';

export const TEE_STATEMENT =
  'TEE mode: the hardware quote below was produced inside a trusted execution environment; its report_data binds the ' +
  'identity key, the TLS key, the served tools, the measurement and your nonce. Verify the quote against the vendor ' +
  "root of trust and compare its measurement registers with the values you expect before trusting this document.";

export const PLAIN_HTTP_NOTE =
  'This document was served over plain HTTP: nothing binds it to the server you are talking to (tls is null).';

export interface AttestationDocument {
  version: typeof DOCUMENT_VERSION;
  mode: 'tee' | 'software';
  statement: string;
  measurement: { value: string; code: Measurement['code']; config: string; pins: string };
  identityKey: { alg: 'Ed25519'; publicKey: string; custody: string };
  /** SHA-256 (hex) of the DER SubjectPublicKeyInfo of the certificate served on this connection; null over plain HTTP. */
  tls: { spkiSha256: string } | null;
  toolsHash: string;
  nonce: string | null;
  timestamp: string;
  platform: { provider: string | null; available: string[]; summary: string };
  /** Only in tee mode. */
  quote?: { format: QuoteFormat; data: string; reportData: string; eventLog?: string };
}

export interface SignedDocument {
  document: AttestationDocument;
  /** base64url Ed25519 signature over canonicalJson(document). */
  signature: string;
}

export function signDocument(document: AttestationDocument, key: KeyObject): SignedDocument {
  return { document, signature: sign(null, Buffer.from(canonicalJson(document)), key).toString('base64url') };
}

export function signatureValid(signed: SignedDocument, publicKey: KeyObject): boolean {
  try {
    return verifySignature(null, Buffer.from(canonicalJson(signed.document)), publicKey, Buffer.from(signed.signature, 'base64url'));
  } catch {
    return false;
  }
}

export interface BindingInput {
  identityKey: Buffer;
  spkiSha256: string | null;
  toolsHash: string;
  nonce: string | null;
  measurement: string;
}

export function reportDataFor(b: BindingInput): Buffer {
  const head = createHash('sha256')
    .update(b.identityKey)
    .update(b.spkiSha256 === null ? Buffer.alloc(32) : hex32(b.spkiSha256, 'TLS SPKI hash'))
    .update(hex32(b.toolsHash, 'tools hash'))
    .update(Buffer.from(b.nonce ?? '', 'utf8'))
    .digest();
  return Buffer.concat([head, hex32(b.measurement, 'measurement')]);
}

function hex32(hex: string, what: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${what} must be 64 lowercase hex digits`);
  return Buffer.from(hex, 'hex');
}
