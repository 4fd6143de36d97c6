/**
 * portcullis policy explain | test: the decision for one request and the rules behind it, or a table of expected
 * decisions run against the configuration's policy (for CI). Both read the policy from portcullis.yaml; what
 * configuration says about items (tags, annotation overrides) is filled in as the gateway would.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { policyOptions } from '../config/policy.js';
import { explainCommand, testCommand, type PolicyCommandInput, type PolicyResource } from '../policy/index.js';
import { loadCliConfig } from './config.js';
import { DEFAULT_CONFIG_PATH, UsageError } from './usage.js';

/** The table `policy test` runs when given none: kept beside the configuration. */
export const DEFAULT_TABLE = 'policy-tests.yaml';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'explain') return explain(rest);
  if (sub === 'test') return test(rest);
  throw new UsageError(sub === undefined ? 'name a subcommand: explain or test' : `unknown subcommand "${sub}" (expected explain or test)`);
}

async function explain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      principal: { type: 'string', short: 'p' },
      tool: { type: 'string' },
      prompt: { type: 'string' },
      resource: { type: 'string' },
      template: { type: 'string' },
      server: { type: 'string' },
      action: { type: 'string' },
      args: { type: 'string' },
      annotations: { type: 'string' },
      tags: { type: 'string' },
      time: { type: 'string' },
      endpoint: { type: 'string' },
      era: { type: 'string' },
      taint: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.principal === undefined) throw new UsageError('--principal is required');
  const config = await loadCliConfig(values.config);
  const { config: _c, principal, ...rest } = values;
  const out = explainCommand(commandInput(config), { principal, ...rest });
  return print(out);
}

async function test(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true, allowPositionals: true });
  const config = await loadCliConfig(values.config);
  const files = positionals.length ? positionals : [join(dirname(resolve(values.config ?? DEFAULT_CONFIG_PATH)), DEFAULT_TABLE)];
  let code: 0 | 1 | 2 = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      process.stderr.write(`portcullis policy test: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
      return 2;
    }
    if (files.length > 1) process.stdout.write(`${file}:\n`);
    const out = testCommand(commandInput(config), { name: file, text });
    print(out);
    code = Math.max(code, out.exitCode) as 0 | 1 | 2;
  }
  return code;
}

function print(out: { text: string; exitCode: 0 | 1 | 2 }): number {
  (out.exitCode === 2 ? process.stderr : process.stdout).write(out.text.endsWith('\n') ? out.text : `${out.text}\n`);
  return out.exitCode;
}

/** The policy and what configuration knows of items: tags, and annotation overrides (which win, as in the gateway). */
export function commandInput(config: GatewayConfig): PolicyCommandInput {
  const opts = policyOptions(config);
  const input: PolicyCommandInput = {
    policy: config.policy ?? {},
    resolve: (r: PolicyResource): PolicyResource => {
      const up = config.upstreams[r.server];
      if (!up || r.kind === 'server') return r;
      const own = r.kind === 'tool' ? up.tools[r.name ?? '']?.tags : r.kind === 'prompt' ? up.prompts[r.name ?? '']?.tags : undefined;
      const tags = [...new Set([...(r.tags ?? []), ...up.tags, ...(own ?? [])])];
      const override = r.kind === 'tool' ? up.tools[r.name ?? '']?.annotations : undefined;
      return { ...r, tags, ...(override ? { annotations: { ...(r.annotations ?? {}), ...override } } : {}) };
    },
  };
  if (opts.servers) input.servers = opts.servers;
  if (opts.tags) input.tags = opts.tags;
  return input;
}
