/** portcullis init: write the starter config (see src/config/starter.ts). */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeStarter } from '../config/starter.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', short: 'd' }, force: { type: 'boolean', short: 'f' } },
    strict: true,
    allowPositionals: false,
  });
  const dir = resolve(values.dir ?? '.');
  const { configPath, written } = await writeStarter(dir, { force: values.force === true });
  const show = (p: string): string => relative(process.cwd(), p) || '.';
  for (const file of written) process.stdout.write(`created ${show(file)}\n`);
  const configFlag = show(dir) === '.' ? '' : ` --config ${show(configPath)}`;
  process.stdout.write(`\nNext: portcullis check${configFlag} && portcullis serve${configFlag}\n`);
  return 0;
}
