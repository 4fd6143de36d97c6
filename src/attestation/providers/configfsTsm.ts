/**
 * Linux configfs-tsm (kernel 6.7+): one interface for TDX and SEV-SNP guests. A report is made by creating a
 * directory under /sys/kernel/config/tsm/report, writing 64 bytes to `inblob` and reading `outblob`; `provider`
 * names the TEE and `generation` counts writes, so a read that raced another writer is detected and refused.
 * No key provider here: the identity key is generated in memory at each start and bound by every quote.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EphemeralIdentityKeyStore, type IdentityKeyStore } from '../identityKey.js';
import { REPORT_DATA_BYTES, type HardwareQuote, type QuoteFormat, type QuoteProvider } from './types.js';

export const CONFIGFS_TSM_REPORT = '/sys/kernel/config/tsm/report';

/** The file operations used (tests substitute them: configfs cannot be mounted in a test). */
export interface TsmFs {
  mkdir(path: string): Promise<unknown>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer): Promise<void>;
}

const realFs: TsmFs = { mkdir: (p) => mkdir(p), rmdir: (p) => rmdir(p), readFile: (p) => readFile(p), writeFile: (p, d) => writeFile(p, d) };

const FORMATS: Record<string, QuoteFormat> = { tdx_guest: 'tdx', sev_guest: 'sev-snp' };

export class ConfigfsTsmProvider implements QuoteProvider {
  readonly name = 'configfs-tsm';
  /** One report at a time: a configfs report entry is one shared buffer. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly root = CONFIGFS_TSM_REPORT, private readonly fs: TsmFs = realFs) {}

  quote(reportData: Buffer): Promise<HardwareQuote> {
    if (reportData.length !== REPORT_DATA_BYTES) throw new Error(`report_data must be ${REPORT_DATA_BYTES} bytes`);
    const run = this.queue.then(() => this.report(reportData));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async report(reportData: Buffer): Promise<HardwareQuote> {
    const dir = join(this.root, `portcullis-${process.pid}-${randomUUID()}`);
    await this.fs.mkdir(dir);
    try {
      const before = await this.generation(dir);
      await this.fs.writeFile(join(dir, 'inblob'), reportData);
      const quote = await this.fs.readFile(join(dir, 'outblob'));
      const provider = (await this.fs.readFile(join(dir, 'provider'))).toString('utf8').trim();
      if ((await this.generation(dir)) !== before + 1) throw new Error('configfs-tsm: the report was changed by another writer while it was read');
      const format = FORMATS[provider];
      if (!format) throw new Error(`configfs-tsm: unsupported TEE provider "${provider}"`);
      if (quote.length === 0) throw new Error('configfs-tsm: the TEE returned an empty quote');
      return { format, quote };
    } finally {
      await this.fs.rmdir(dir).catch(() => undefined);
    }
  }

  private async generation(dir: string): Promise<number> {
    const n = Number((await this.fs.readFile(join(dir, 'generation'))).toString('utf8').trim());
    if (!Number.isInteger(n)) throw new Error('configfs-tsm: unreadable generation counter');
    return n;
  }

  identityKeyStore(): IdentityKeyStore {
    return new EphemeralIdentityKeyStore('generated inside the confidential VM at start (configfs-tsm has no key provider), never written out; a restart gives a new key');
  }
}
