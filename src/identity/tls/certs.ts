/**
 * Development certificates: a private CA (ECDSA P-256, 10 years), server certificates for loopback or given names,
 * and client certificates for mutual TLS. For development and tests; production certificates come from a real CA.
 * Everything is in memory here; ./certDir.ts writes the files.
 */
import { createPrivateKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { isIP } from 'node:net';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto;
const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates start a little in the past, so a peer whose clock is slightly behind accepts them. */
const BACKDATE_MS = 5 * 60_000;

export const DEFAULT_SERVER_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** A certificate and its private key, as PEM. */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Hexadecimal serial number. */
  serial: string;
}

/** A CA that can sign: its certificate and key pair. */
export interface CertificateAuthority extends IssuedCertificate {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface ServerCertOptions {
  /** DNS names and IP addresses (default: localhost, 127.0.0.1, ::1). The first is the subject CN. */
  hosts?: readonly string[];
  days?: number;
}

export interface ClientCertOptions {
  /** Subject CN; also names the default SAN URI spiffe://portcullis/client/NAME. */
  name: string;
  /** SAN URIs (default: the SPIFFE-style URI above; [] for none). */
  uris?: readonly string[];
  /** SAN email addresses. */
  emails?: readonly string[];
  days?: number;
}

export function defaultClientUri(name: string): string {
  return `spiffe://portcullis/client/${encodeURIComponent(name)}`;
}

export async function createCertificateAuthority(opts: { commonName?: string; years?: number } = {}): Promise<CertificateAuthority> {
  const keys = await newKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: dn(opts.commonName ?? `Portcullis development CA ${randomBytes(3).toString('hex')}`),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (opts.years ?? 10) * 365 * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { cert, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial: cert.serialNumber };
}

/** A CA from its PEM files (as written by createCertificateAuthority). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const privateKey = await crypto.subtle.importKey('pkcs8', der, KEY_ALG, true, ['sign']);
  const publicKey = await cert.publicKey.export(KEY_ALG, ['verify'], crypto);
  return { cert, keys: { privateKey, publicKey }, certPem, keyPem, serial: cert.serialNumber };
}

export async function issueServerCertificate(ca: CertificateAuthority, opts: ServerCertOptions = {}): Promise<IssuedCertificate> {
  const hosts = opts.hosts?.length ? opts.hosts : DEFAULT_SERVER_HOSTS;
  const names = hosts.map((h): x509.JsonGeneralName => ({ type: isIP(h) ? 'ip' : 'dns', value: h }));
  return issue(ca, hosts[0]!, x509.ExtendedKeyUsage.serverAuth, names, opts.days ?? 365);
}

export async function issueClientCertificate(ca: CertificateAuthority, opts: ClientCertOptions): Promise<IssuedCertificate> {
  const names: x509.JsonGeneralName[] = [
    ...(opts.uris ?? [defaultClientUri(opts.name)]).map((value) => ({ type: 'url' as const, value })),
    ...(opts.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  return issue(ca, opts.name, x509.ExtendedKeyUsage.clientAuth, names, opts.days ?? 365);
}

async function issue(
  ca: CertificateAuthority, commonName: string, usage: x509.ExtendedKeyUsage, names: x509.JsonGeneralName[], days: number,
): Promise<IssuedCertificate> {
  const keys = await newKeyPair();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey, false, crypto),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: dn(commonName),
    issuer: ca.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    // Never beyond the CA: a chain is only as valid as its shortest link.
    notAfter: new Date(Math.min(now + days * DAY_MS, ca.cert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING_ALG,
    extensions,
  }, crypto);
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial: cert.serialNumber };
}

function newKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** 16 random bytes with the top bit clear: a positive serial with 127 bits of entropy (CA/B BR asks for 64). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f | 0x01;
  return b.toString('hex');
}

/** A one-attribute name; JSON form, so no character of the CN needs escaping. */
function dn(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}
