/** portcullis init: write the starter config (see src/config/starter.ts); --tls adds development certificates. */
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeStarter } from '../config/starter.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', short: 'd' }, force: { type: 'boolean', short: 'f' }, tls: { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  });
  const dir = resolve(values.dir ?? '.');
  const { configPath, written } = await writeStarter(dir, { force: values.force === true });
  const show = (p: string): string => relative(process.cwd(), p) || '.';
  for (const file of written) process.stdout.write(`created ${show(file)}\n`);
  if (values.tls) {
    // Loaded only here: certificate generation pulls in @peculiar/x509.
    const { createDevCertificates } = await import('../identity/tls/certDir.js');
    const { describeDevCertificates, tlsSnippet } = await import('./certs.js');
    const made = await createDevCertificates(join(dir, 'certs'), { force: values.force === true });
    process.stdout.write(describeDevCertificates(made, show));
    // Paths relative to the config file, as the config's own relative paths are.
    const fromConfig = (p: string): string => `./${relative(dir, p)}`;
    process.stdout.write(`\nTo serve HTTPS, add to ${show(configPath)}:\n\n${tlsSnippet(made, fromConfig)}`);
  }
  const configFlag = show(dir) === '.' ? '' : ` --config ${show(configPath)}`;
  process.stdout.write(`\nNext: portcullis check${configFlag} && portcullis serve${configFlag}\n`);
  return 0;
}
