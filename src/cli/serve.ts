/** portcullis serve: start the HTTP gateway, print where clients connect, close gracefully on SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import type { ConfigOverride } from '../config/load.js';
import { cliLogger, exitSoon, loadCliConfig } from './config.js';
import { closeOnSignal } from './signals.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { writeStarter } from '../config/starter.js';
import { DEFAULT_CONFIG_PATH } from './usage.js';
import { policyWarning, reloadOnChange } from './reload.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      // `npm start` on a fresh checkout: write the starter config (and sample folder) first if there is none.
      'init-if-missing': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  // Flags go through the same validation as the file (a non-loopback --host with auth "none" is refused too).
  const overrides: ConfigOverride[] = [];
  if (values.port !== undefined) {
    overrides.push({ path: ['server', 'port'], value: /^\d+$/.test(values.port) ? Number(values.port) : values.port, origin: '--port' });
  }
  if (values.host !== undefined) overrides.push({ path: ['server', 'host'], value: values.host, origin: '--host' });

  if (values['init-if-missing'] && !existsSync(values.config ?? DEFAULT_CONFIG_PATH)) {
    const file = values.config ?? DEFAULT_CONFIG_PATH;
    const written = await writeStarter(dirname(resolve(file)), { force: false });
    process.stdout.write(`Wrote a starter configuration: ${written.configPath}\n`);
  }
  const config = await loadCliConfig(values.config, overrides);
  // Loaded after the config is known to be valid: a bad file is reported without loading the whole gateway.
  const { startGateway } = await import('../gateway.js');
  const logger = cliLogger(config);
  const starting = startGateway(config, { logger });
  // Handlers go in before the URL is printed: a supervisor (or a test) may signal as soon as it reads it.
  const stopped = closeOnSignal(async () => (await starting).close(), logger);
  const gateway = await starting;
  process.stdout.write(`Portcullis listening: ${gateway.url}\n`);
  const dflt = gateway.gateway.defaultEndpoint;
  if (dflt) process.stdout.write(`Connect MCP clients to: ${gateway.url}/mcp  (${dflt.kind} ${dflt.name}; old HTTP+SSE clients: ${gateway.url}/sse)\n`);
  // One line per endpoint: the URLs to paste into a client.
  for (const ep of gateway.gateway.endpoints) process.stdout.write(`  ${ep.kind.padEnd(7)} ${ep.name}: ${new URL(ep.path, gateway.url).href}\n`);
  const warning = policyWarning(gateway.gateway.rules.policy, [...gateway.gateway.upstreams.keys()], config.auth.mode === 'none');
  if (warning) process.stdout.write(warning);
  // A changed file (or SIGHUP) reloads the policy and limits; an invalid one is rejected and logged.
  const stopReloading = reloadOnChange(resolve(values.config ?? DEFAULT_CONFIG_PATH), gateway.gateway, logger, { overrides });
  void stopped.then(stopReloading);
  await printAuthHelp(gateway.http.identity, config.auth.mode);
  return exitSoon(await stopped);
}

/** How to get in: the first administrator's one-time setup link, and what an OAuth client will do. */
async function printAuthHelp(identity: import('../identity/identity.js').Identity, mode: string): Promise<void> {
  if (mode === 'none') {
    process.stdout.write('Authentication is off (auth.mode "none"): every local process is trusted.\n');
    return;
  }
  const as = identity.authServer;
  if (!as) {
    process.stdout.write('Clients need an access token from a configured issuer (see auth.issuers).\n');
    return;
  }
  const first = await as.ensureFirstAdmin();
  if (first) {
    process.stdout.write(`\nFirst start: choose the password of the administrator "${first.username}" at this one-time link:\n  ${first.setupUrl}\n`);
  }
  process.stdout.write(`OAuth clients (mcp-remote, the Inspector, Claude) are sent to the sign-in page at ${as.issuer} when they connect.\n`
    + 'Add users with: portcullis user add NAME\n');
}
