/**
 * The gateway's own TLS settings from server.tls: the secure context (certificate, key, client CA, protocol floor,
 * ciphers), read from files and checked before use, and the client-certificate policy.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { TlsConfig } from '../../config/types.js';

/**
 * AEAD suites with forward secrecy only (Mozilla "intermediate" without DHE). The TLS 1.3 suites must be named:
 * a list without any makes Node cap the protocol at TLS 1.2.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface CertificateSummary {
  subject: string;
  serial: string;
  validTo: string;
  expired: boolean;
}

/**
 * What the TLS server needs beside its context. A client CA means certificates are asked for and verified;
 * "required" also refuses connections without a valid one. A CA with "none" therefore behaves as "optional".
 */
export function clientCertificatePolicy(tls: TlsConfig): { requestCert: boolean; rejectUnauthorized: boolean } {
  const mode = tls.clientCertificates ?? 'none';
  if (mode !== 'none' && !tls.clientCa) throw new Error(`server.tls.clientCertificates is "${mode}" but server.tls.clientCa is not set`);
  return { requestCert: tls.clientCa !== undefined, rejectUnauthorized: mode === 'required' };
}

/**
 * Reads the files and builds a context from them once, so that an unreadable file, a malformed PEM or a key that
 * does not match the certificate is reported here, naming the setting, instead of failing handshakes later.
 */
export function readSecureContextOptions(tls: TlsConfig): SecureContextOptions {
  const options: SecureContextOptions = {
    cert: readPem(tls.cert, 'server.tls.cert'),
    key: readPem(tls.key, 'server.tls.key'),
    ...(tls.clientCa ? { ca: readPem(tls.clientCa, 'server.tls.clientCa') } : {}),
    minVersion: tls.minVersion ?? 'TLSv1.2',
    ciphers: CIPHERS,
  };
  try {
    createSecureContext(options);
  } catch (e) {
    throw new Error(`server.tls: ${(e as Error).message} (cert ${tls.cert}, key ${tls.key}${tls.clientCa ? `, clientCa ${tls.clientCa}` : ''})`, { cause: e });
  }
  return options;
}

/** The leaf certificate (first in the file), for logs. */
export function summarizeCertificate(pem: SecureContextOptions['cert']): CertificateSummary | undefined {
  try {
    const x = new X509Certificate(Array.isArray(pem) ? pem[0]! : pem!);
    return { subject: x.subject.replace(/\n/g, ', '), serial: x.serialNumber, validTo: x.validTo, expired: Date.parse(x.validTo) < Date.now() };
  } catch {
    return undefined;
  }
}

/** True when two option sets hold the same file contents (a touch or a rewrite with the same bytes). */
export function sameContext(a: SecureContextOptions, b: SecureContextOptions): boolean {
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}

function same(a: unknown, b: unknown): boolean {
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b;
}

function readPem(path: string, setting: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${setting}: cannot read ${path} (${code === 'ENOENT' ? 'file not found' : (e as Error).message})`, { cause: e });
  }
  if (!data.includes('-----BEGIN ')) throw new Error(`${setting}: ${path} is not a PEM file`);
  return data;
}
