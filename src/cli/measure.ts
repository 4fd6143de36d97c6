/**
 * portcullis measure: the measurement a gateway started with this build and configuration reports, computed
 * offline so an auditor can rebuild from source and compare (docs/attestation.md). The tools hash is the one the
 * gateway reports when every upstream serves exactly its approved (pinned) definitions; --live asks the upstreams
 * instead, as the running gateway does.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfigOverride } from '../config/load.js';
import { measuredConfig } from '../attestation/configMeasure.js';
import { measure } from '../attestation/measurement.js';
import { configEndpoints, liveTools, pinnedTools, servedTools, toolsHashOf } from '../attestation/tools.js';
import { readAllPins } from '../integrity/pins.js';
import { openStorage } from '../storage/index.js';
import { cliLogger, loadCliConfig } from './config.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      live: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'show-config': { type: 'boolean', default: false },
      'code-root': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  // The same flags as serve: they are part of the effective configuration, so of the measurement.
  const overrides: ConfigOverride[] = [];
  if (values.port !== undefined) overrides.push({ path: ['server', 'port'], value: /^\d+$/.test(values.port) ? Number(values.port) : values.port, origin: '--port' });
  if (values.host !== undefined) overrides.push({ path: ['server', 'host'], value: values.host, origin: '--host' });
  const config = await loadCliConfig(values.config, overrides);
  if (values['show-config']) {
    process.stdout.write(JSON.stringify(measuredConfig(config), null, 2) + '\n');
    return 0;
  }

  // An auditor's own build elsewhere (its dist/ and package-lock.json); default: the code this command runs from.
  const code = values['code-root'] !== undefined ? { code: { root: resolve(values['code-root']), tree: 'dist' as const } } : {};
  let result: { measurement: Awaited<ReturnType<typeof measure>>; toolsHash: string; tools: 'pins' | 'live' };
  if (values.live) {
    const { Gateway } = await import('../gateway.js');
    const gw = await Gateway.create(config, { logger: cliLogger(config) });
    try {
      const m = await measure(config, gw.storage.records, code);
      result = { measurement: m, toolsHash: toolsHashOf(await servedTools(gw.endpoints, liveTools(gw.admission))), tools: 'live' };
    } finally {
      await gw.close();
    }
  } else {
    const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
    try {
      const m = await measure(config, storage.records, code);
      const pins = await readAllPins(storage.records);
      result = { measurement: m, toolsHash: toolsHashOf(await servedTools(configEndpoints(config), pinnedTools(pins))), tools: 'pins' };
    } finally {
      await storage.close();
    }
  }
  const m = result.measurement;
  if (values.json) {
    process.stdout.write(JSON.stringify({ measurement: m.value, code: m.code, config: m.config, pins: m.pins, toolsHash: result.toolsHash, toolsFrom: result.tools }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(
    `measurement  ${m.value}\n` +
    `  code       ${m.code.sha256}  (${m.code.tree}/**${m.code.lockfile ? ' and package-lock.json' : ', NO package-lock.json: dependencies not pinned'}, ${m.code.files} files)\n` +
    `  config     ${m.config}  (secret values excluded; see --show-config)\n` +
    `  pins       ${m.pins}\n` +
    `tools        ${result.toolsHash}  (${result.tools === 'live' ? 'as the upstreams serve them now' : 'expected: every upstream serving exactly its approved definitions'})\n` +
    (config.storage.driver === 'memory' ? 'note: storage.driver is "memory": no pins can be stored, so none are measured\n' : ''),
  );
  return 0;
}
