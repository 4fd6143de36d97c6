/**
 * The gateway as a TLS client of an upstream (upstreams.NAME.tls): whom it trusts and which certificate it
 * presents. Certificates are always verified; there is deliberately no setting to turn that off.
 *
 * `ca` replaces the system trust store for that upstream (as curl's --cacert does): naming the CA that issued a
 * private server's certificate pins the upstream to it, and no public CA can then vouch for that host. Without
 * `ca`, Node's store applies (its bundled roots plus NODE_EXTRA_CA_CERTS).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { UpstreamTlsConfig } from '../../config/types.js';

/** Reads the configured files now (at wire creation), so a bad file is reported when the upstream connects. */
export function upstreamTlsOptions(tls: UpstreamTlsConfig): ConnectionOptions {
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('tls.cert and tls.key must be set together');
  const options: ConnectionOptions = {
    rejectUnauthorized: true,
    ...(tls.ca !== undefined ? { ca: read(tls.ca, 'tls.ca') } : {}),
    ...(tls.cert !== undefined ? { cert: read(tls.cert, 'tls.cert'), key: read(tls.key!, 'tls.key') } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
  try {
    createSecureContext(options);
  } catch (e) {
    throw new Error(`tls: ${(e as Error).message}`, { cause: e });
  }
  return options;
}

/** Node's codes for a server certificate that failed verification, and what usually fixes each. */
const VERIFY_HINTS: Record<string, string> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'set tls.ca to the CA that issued it',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'set tls.ca to the CA that issued it (a self-signed certificate is its own CA)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'set tls.ca to the CA that issued it, or have the server send its intermediates',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'set tls.ca to the CA that issued it',
  UNABLE_TO_GET_ISSUER_CERT: 'set tls.ca to the CA that issued it',
  CERT_HAS_EXPIRED: 'the server must renew its certificate',
  CERT_NOT_YET_VALID: 'check the clocks of both hosts',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name this host: fix the URL, or set tls.servername to a name it carries',
};

/** A connection error made explicit when it is a certificate the gateway refused to trust. */
export function explainTlsError(err: Error, host: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code === undefined ? undefined : VERIFY_HINTS[code];
  if (hint === undefined) return err;
  const explained = new Error(`TLS: the certificate of ${host} is not trusted: ${err.message} (${code}); ${hint}`, { cause: err });
  (explained as NodeJS.ErrnoException).code = code;
  return explained;
}

function read(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${setting}: cannot read ${path} (${code === 'ENOENT' ? 'file not found' : (e as Error).message})`, { cause: e });
  }
}
