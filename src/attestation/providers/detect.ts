/**
 * What the machine offers, found once at start: the dstack guest agent socket, Linux configfs-tsm. `auto` takes the
 * first available (dstack first: it also provides a key); a provider named in the configuration must be there, or
 * the start fails rather than quietly downgrading to software mode.
 */
import { existsSync, statSync } from 'node:fs';
import type { AttestationConfig } from '../../config/types.js';
import { CONFIGFS_TSM_REPORT, ConfigfsTsmProvider, type TsmFs } from './configfsTsm.js';
import { DstackProvider } from './dstack.js';
import type { QuoteProvider } from './types.js';

export interface Detection {
  /** Every provider found on this machine, by name. */
  available: string[];
  /** The provider in use; undefined in software mode. */
  provider: QuoteProvider | undefined;
  /** In words, for the log and the document. */
  summary: string;
}

export interface DetectOptions {
  /** Tests point these elsewhere (configfs cannot be mounted in a test). */
  configfsRoot?: string;
  configfsFs?: TsmFs;
}

export function detectProvider(cfg: Pick<AttestationConfig, 'provider' | 'dstackSocket'>, opts: DetectOptions = {}): Detection {
  const tsmRoot = opts.configfsRoot ?? CONFIGFS_TSM_REPORT;
  const found: Record<string, () => QuoteProvider> = {};
  if (isSocket(cfg.dstackSocket)) found.dstack = () => new DstackProvider(cfg.dstackSocket);
  if (existsSync(tsmRoot)) found['configfs-tsm'] = () => new ConfigfsTsmProvider(tsmRoot, opts.configfsFs);
  const available = Object.keys(found);
  const seen = available.length ? `found: ${available.join(', ')}` : 'no TEE quote provider found (no dstack socket, no configfs-tsm)';
  if (cfg.provider === 'none') return { available, provider: undefined, summary: `software mode (attestation.provider: none; ${seen})` };
  if (cfg.provider !== 'auto') {
    const make = found[cfg.provider];
    if (!make) throw new Error(`attestation.provider is "${cfg.provider}" but it is not available on this machine (${seen}); use "auto" or "none" to run without it`);
    return { available, provider: make(), summary: `tee mode via ${cfg.provider} (${seen})` };
  }
  const name = available[0];
  if (!name) return { available, provider: undefined, summary: `software mode: ${seen}; the document proves key continuity and configuration, not the hardware` };
  return { available, provider: found[name]!(), summary: `tee mode via ${name} (${seen})` };
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}
