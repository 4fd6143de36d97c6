/**
 * A folder of development certificates, as `portcullis certs` and `portcullis init --tls` write it:
 *
 *   ca.pem, ca.key                  the private CA (reused once made: clients already trust it)
 *   server.pem, server.key          the gateway's certificate
 *   client-NAME.pem, client-NAME.key  one per client
 *
 * Private keys are written with mode 0600.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  createCertificateAuthority, issueClientCertificate, issueServerCertificate, loadCertificateAuthority,
  type CertificateAuthority, type ClientCertOptions, type IssuedCertificate,
} from './certs.js';
import { ensurePrivateDirAsync } from '../../core/privateDir.js';

export interface CertFilePair {
  cert: string;
  key: string;
}

export interface DevCertificates {
  ca: CertFilePair & { created: boolean };
  server: CertFilePair;
}

/** Client names become file names and URI path segments: keep them plain. */
export const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class CertFileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists (use --force to replace it)`);
    this.name = 'CertFileExistsError';
  }
}

export function devCertPaths(dir: string, name: string): CertFilePair {
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** The CA in `dir` (made if missing) and a new server certificate for `hosts`. */
export async function createDevCertificates(dir: string, opts: { hosts?: readonly string[]; force?: boolean } = {}): Promise<DevCertificates> {
  const server = devCertPaths(dir, 'server');
  if (!opts.force) await refuseExisting(server.cert, server.key);
  const { ca, paths, created } = await openOrCreateCa(dir);
  await writePair(server, await issueServerCertificate(ca, opts.hosts ? { hosts: opts.hosts } : {}));
  return { ca: { ...paths, created }, server };
}

/** A client certificate signed by the CA in `dir` (which must exist: run createDevCertificates first). */
export async function createDevClientCertificate(dir: string, opts: ClientCertOptions & { force?: boolean }): Promise<CertFilePair> {
  if (!CLIENT_NAME.test(opts.name)) throw new Error(`client name "${opts.name}": use letters, digits, ".", "_" and "-" (at most 64)`);
  const paths = devCertPaths(dir, `client-${opts.name}`);
  if (!opts.force) await refuseExisting(paths.cert, paths.key);
  const caPaths = devCertPaths(dir, 'ca');
  if (!(await exists(caPaths.cert))) throw new Error(`no CA in ${dir}: create one with "portcullis certs init"`);
  const ca = await loadCertificateAuthority(await readFile(caPaths.cert, 'utf8'), await readFile(caPaths.key, 'utf8'));
  await writePair(paths, await issueClientCertificate(ca, opts));
  return paths;
}

async function openOrCreateCa(dir: string): Promise<{ ca: CertificateAuthority; paths: CertFilePair; created: boolean }> {
  const paths = devCertPaths(dir, 'ca');
  if (await exists(paths.cert)) {
    const ca = await loadCertificateAuthority(await readFile(paths.cert, 'utf8'), await readFile(paths.key, 'utf8'));
    return { ca, paths, created: false };
  }
  const ca = await createCertificateAuthority();
  await writePair(paths, ca);
  return { ca, paths, created: true };
}

async function writePair(paths: CertFilePair, issued: IssuedCertificate): Promise<void> {
  await ensurePrivateDirAsync(dirname(paths.key));
  await writeFile(paths.key, issued.keyPem, { mode: 0o600 });
  await chmod(paths.key, 0o600); // mode applies only when the file is created
  await writeFile(paths.cert, issued.certPem, { mode: 0o644 });
}

async function refuseExisting(...paths: string[]): Promise<void> {
  for (const p of paths) if (await exists(p)) throw new CertFileExistsError(p);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return false;
    throw e;
  });
}
