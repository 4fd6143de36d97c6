/** portcullis certs: development certificates for HTTPS and mutual TLS (see src/identity/tls/certDir.ts). */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDevCertificates, createDevClientCertificate, type CertFilePair, type DevCertificates } from '../identity/tls/certDir.js';
import { defaultClientUri } from '../identity/tls/certs.js';
import { UsageError } from './usage.js';

export const DEFAULT_CERT_DIR = 'certs';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'init': return init(rest);
    case 'client': return client(rest);
    case undefined: throw new UsageError('missing subcommand: "certs init" or "certs client NAME"');
    default: throw new UsageError(`unknown subcommand "certs ${sub}" (expected init or client)`);
  }
}

async function init(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', short: 'd' }, hosts: { type: 'string' }, force: { type: 'boolean', short: 'f' } },
    strict: true,
    allowPositionals: false,
  });
  const hosts = values.hosts?.split(',').map((h) => h.trim()).filter(Boolean);
  if (values.hosts !== undefined && !hosts?.length) throw new UsageError('--hosts needs at least one name or address');
  const dir = resolve(values.dir ?? DEFAULT_CERT_DIR);
  const made = await createDevCertificates(dir, { ...(hosts ? { hosts } : {}), force: values.force === true });
  process.stdout.write(describeDevCertificates(made, show));
  process.stdout.write(`\nTo serve HTTPS, add to portcullis.yaml:\n\n${tlsSnippet(made, (p) => p)}`);
  process.stdout.write(`\nClients must trust ${show(made.ca.cert)} (curl --cacert; Node: NODE_EXTRA_CA_CERTS).\n`);
  return 0;
}

async function client(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      dir: { type: 'string', short: 'd' },
      uri: { type: 'string', multiple: true },
      email: { type: 'string', multiple: true },
      force: { type: 'boolean', short: 'f' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('certs client takes exactly one NAME');
  const name = positionals[0]!;
  const dir = resolve(values.dir ?? DEFAULT_CERT_DIR);
  const uris = values.uri ?? [defaultClientUri(name)];
  const paths = await createDevClientCertificate(dir, { name, uris, emails: values.email ?? [], force: values.force === true });
  process.stdout.write(`created ${show(paths.cert)}\ncreated ${show(paths.key)}\n`);
  process.stdout.write(`  subject CN=${name}${uris.map((u) => `, URI:${u}`).join('')}${(values.email ?? []).map((e) => `, email:${e}`).join('')}\n`);
  process.stdout.write(`\nTry it: curl --cacert ${show(resolve(dir, 'ca.pem'))} --cert ${show(paths.cert)} --key ${show(paths.key)} https://localhost:8080/healthz\n`);
  return 0;
}

const show = (p: string): string => relative(process.cwd(), p) || '.';

/** "created …" / "using existing …" lines for the CA and the server certificate. */
export function describeDevCertificates(made: DevCertificates, display: (p: string) => string): string {
  const lines = made.ca.created
    ? [`created ${display(made.ca.cert)}`, `created ${display(made.ca.key)}`]
    : [`using existing CA ${display(made.ca.cert)}`];
  lines.push(`created ${display(made.server.cert)}`, `created ${display(made.server.key)}`);
  return `${lines.join('\n')}\n`;
}

/** The server.tls section for these files; `path` renders each file as it should appear in the config. */
export function tlsSnippet(made: { ca: CertFilePair; server: CertFilePair }, path: (p: string) => string): string {
  const q = (p: string): string => JSON.stringify(path(p));
  return `server:
  tls:
    cert: ${q(made.server.cert)}
    key: ${q(made.server.key)}
    # Mutual TLS: only clients with a certificate from this CA may connect ("portcullis certs client NAME").
    # clientCa: ${q(made.ca.cert)}
    # clientCertificates: required
`;
}
