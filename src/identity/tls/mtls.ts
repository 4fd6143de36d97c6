/**
 * Mutual TLS: the client certificate a request arrived with, the principal it names (auth.mtls.principalFrom), and
 * its RFC 8705 thumbprint for certificate-bound access tokens.
 *
 * A certificate is only evidence when the TLS layer verified it against server.tls.clientCa: with
 * clientCertificates "optional" the handshake also succeeds with a certificate that failed verification, so callers
 * must check `authorized` before calling principalFromCertificate or certificateThumbprint.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import type { MtlsConfig } from '../../config/types.js';
import type { Principal } from '../../pipeline/context.js';

export interface PeerCertificateInfo {
  cert: PeerCertificate;
  /** True only when the chain verified against the configured client CA. */
  authorized: boolean;
}

/** The client certificate of the connection a request came on; undefined over plain HTTP or without one. */
export function peerCertificate(req: IncomingMessage): PeerCertificateInfo | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate(false) as PeerCertificate | null;
  if (!cert?.raw?.length) return undefined;
  return { cert, authorized: socket.authorized };
}

/** RFC 8705 §3.1 `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER encoding. */
export function certificateThumbprint(cert: PeerCertificate): string {
  return createHash('sha256').update(cert.raw).digest('base64url');
}

const SAN_TYPE: Record<Exclude<MtlsConfig['principalFrom'], 'subject-cn'>, string> = {
  'san-uri': 'URI',
  'san-dns': 'DNS',
  'san-email': 'email',
};

/**
 * The principal a verified client certificate names, or undefined when the configured field is missing (or, for
 * the subject CN, ambiguous: more than one CN). Of several SAN entries of the configured type, the first is used.
 */
export function principalFromCertificate(cert: PeerCertificate, mtls: MtlsConfig): Principal | undefined {
  const subject = namedBy(cert, mtls.principalFrom);
  if (!subject) return undefined;
  return {
    subject,
    issuer: 'mtls',
    method: 'mtls',
    scopes: [],
    roles: [...mtls.roles],
    groups: [],
    attributes: {
      certSubject: distinguishedName(cert.subject),
      certIssuer: distinguishedName(cert.issuer),
      certSerial: cert.serialNumber,
      certFingerprint: cert.fingerprint256,
    },
    key: `mtls ${subject}`,
    certThumbprint: certificateThumbprint(cert),
  };
}

function namedBy(cert: PeerCertificate, field: MtlsConfig['principalFrom']): string | undefined {
  if (field === 'subject-cn') return single(attributesOf(cert.subject).CN);
  const type = SAN_TYPE[field];
  return subjectAltNames(cert.subjectaltname).find((n) => n.type === type)?.value;
}

export interface AltName {
  /** As Node prints it: "DNS", "URI", "email", "IP Address", "DirName", … */
  type: string;
  value: string;
}

/**
 * Parses Node's `subjectaltname` string ("DNS:a, URI:b, …"). Node writes a value holding a separator or a quote as
 * a JSON string literal (DNS:"a, b"), so the string is split only outside such literals (as node:tls does itself).
 */
export function subjectAltNames(text: string | undefined): AltName[] {
  if (!text) return [];
  const entries: string[] = [];
  let token = '';
  let at = 0;
  while (at < text.length) {
    const sep = text.indexOf(', ', at);
    const quote = text.indexOf('"', at);
    if (quote !== -1 && (sep === -1 || quote < sep)) {
      const literal = JSON_STRING.exec(text.slice(quote));
      if (!literal) return []; // not Node's format: trust nothing in it
      token += text.slice(at, quote) + (JSON.parse(literal[0]) as string);
      at = quote + literal[0].length;
    } else if (sep !== -1) {
      entries.push(token + text.slice(at, sep));
      token = '';
      at = sep + 2;
    } else {
      token += text.slice(at);
      at = text.length;
    }
  }
  entries.push(token);
  return entries.flatMap((e) => {
    const colon = e.indexOf(':');
    return colon > 0 ? [{ type: e.slice(0, colon), value: e.slice(colon + 1) }] : [];
  });
}

const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

type NameAttributes = Record<string, string | string[] | undefined>;

function attributesOf(name: PeerCertificate['subject'] | undefined): NameAttributes {
  return (name ?? {}) as unknown as NameAttributes;
}

function single(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** "CN=alice, O=Example", RFC 4514 escaping; attributes in the order Node lists them. */
function distinguishedName(name: PeerCertificate['subject'] | undefined): string {
  return Object.entries(attributesOf(name))
    .flatMap(([k, v]) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map((x) => `${k}=${x.replace(/[,+"\\<>;=]/g, '\\$&')}`))
    .join(', ');
}
