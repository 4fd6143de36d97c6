/**
 * The measurement: one hash over the code, the configuration and the pinned definitions, each also reported on its
 * own so a mismatch says which part differs.
 *
 *   value = sha256(canonicalJson({ version: 1, code: { tree, sha256 }, config: <hex>, pins: <hex> }))
 */
import { canonicalJson } from '../core/canonical.js';
import type { GatewayConfig } from '../config/types.js';
import type { RecordStore } from '../storage/types.js';
import { readAllPins } from '../integrity/pins.js';
import { measureCode, runningCode, sha256Hex, type CodeMeasurement } from './code.js';
import { measureConfig } from './configMeasure.js';
import { measurePins } from './pins.js';

export interface Measurement {
  value: string;
  code: CodeMeasurement;
  config: string;
  pins: string;
}

export interface MeasureOptions {
  /** The package root and tree to measure (default: where this process runs from). */
  code?: { root: string; tree: CodeMeasurement['tree'] };
}

export async function measure(config: GatewayConfig, records: RecordStore, opts: MeasureOptions = {}): Promise<Measurement> {
  const where = opts.code ?? runningCode();
  const code = measureCode(where.root, where.tree);
  const configHash = measureConfig(config);
  const pins = measurePins(await readAllPins(records), Object.keys(config.upstreams));
  return { value: combine(code, configHash, pins), code, config: configHash, pins };
}

export function combine(code: CodeMeasurement, config: string, pins: string): string {
  return sha256Hex(canonicalJson({ version: 1, code: { tree: code.tree, sha256: code.sha256 }, config, pins }));
}
