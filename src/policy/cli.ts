/**
 * The policy subcommands as pure functions (parsed config and arguments in, text and exit code out), so the CLI
 * only reads files and prints:
 *
 *   portcullis policy explain --principal 'subject=alice,role=analyst' --tool filesystem/read_text_file \
 *                             --args '{"path":"/srv/reports/q1.txt"}'
 *   portcullis policy test policy-tests.yaml
 *
 * Exit codes: 0 explained / every case passed; 1 some case failed; 2 the policy, the table or the arguments are
 * invalid (the text says why).
 */
import { compilePolicy, type CompileOptions } from './compile.js';
import type { CompiledPolicy } from './engine.js';
import { formatPolicyIssues, isPolicyError } from './errors.js';
import { defaultAction, formatResults, parseTable, parseTaint, runTable, TableError, toPrincipal, toResource, type TableOptions } from './table.js';
import { ACTIONS, type Action, type PolicyPrincipal, type PolicyResource, type ResourceKind } from './types.js';

export interface CommandResult {
  text: string;
  exitCode: 0 | 1 | 2;
}

/** What the commands need from the loaded configuration. */
export interface PolicyCommandInput extends Pick<CompileOptions, 'servers' | 'tags'> {
  /** The value of the `policy:` key. */
  policy: unknown;
  /** Fills in annotations and tags that configuration knows for an item. */
  resolve?: (r: PolicyResource) => PolicyResource;
}

export interface ExplainArgs {
  /** JSON (`{"subject":"alice","roles":["analyst"]}`) or `subject=alice,role=analyst,group=g,scope=s,tenant=t,client=c,issuer=i,method=bearer,attr.customer_id=c-1`. */
  principal: string;
  tool?: string;
  prompt?: string;
  /** "server/uri". */
  resource?: string;
  template?: string;
  server?: string;
  /** Default: the kind's main use (call, read, get, complete; list for a server). */
  action?: string;
  /** JSON object. */
  args?: string;
  /** JSON object of tool annotations, e.g. {"readOnlyHint":true}. */
  annotations?: string;
  /** Comma-separated tags. */
  tags?: string;
  /** ISO 8601; default now. */
  time?: string;
  endpoint?: string;
  era?: string;
  /** Comma-separated taint names (context.taint), e.g. "sensitive,secret". */
  taint?: string;
}

function compileFor(input: PolicyCommandInput): CompiledPolicy | CommandResult {
  try {
    const opts: CompileOptions = {};
    if (input.servers) opts.servers = input.servers;
    if (input.tags) opts.tags = input.tags;
    return compilePolicy(input.policy, opts);
  } catch (e) {
    if (isPolicyError(e)) return { text: `the policy is invalid:\n${formatPolicyIssues(e.issues)}`, exitCode: 2 };
    throw e;
  }
}

export function explainCommand(input: PolicyCommandInput, a: ExplainArgs, now: Date = new Date()): CommandResult {
  const problems: string[] = [];
  const principal = parsePrincipal(a.principal, problems);
  const kinds = (['tool', 'prompt', 'resource', 'template', 'server'] as const).filter((k) => a[k] !== undefined);
  let resource: PolicyResource | undefined;
  if (kinds.length !== 1) problems.push('name exactly one of --tool, --prompt, --resource, --template, --server');
  else {
    const kind = kinds[0] as ResourceKind;
    resource = toResource(kind, a[kind] ?? '', `--${kind}`, problems);
  }
  const args = a.args === undefined ? undefined : parseJsonObject(a.args, '--args', problems);
  const annotations = a.annotations === undefined ? undefined : parseJsonObject(a.annotations, '--annotations', problems);
  if (resource && annotations) resource = { ...resource, annotations };
  if (resource && a.tags) resource = { ...resource, tags: a.tags.split(',').map((t) => t.trim()).filter(Boolean) };
  if (resource && input.resolve) resource = input.resolve(resource);
  const action = a.action ?? (resource ? defaultAction(resource.kind) : 'call');
  if (!(ACTIONS as readonly string[]).includes(action)) problems.push(`--action must be one of ${ACTIONS.join(', ')}`);
  const time = a.time === undefined ? now : new Date(a.time);
  if (Number.isNaN(time.getTime())) problems.push('--time must be an ISO 8601 date');
  if (a.era !== undefined && a.era !== 'legacy' && a.era !== 'modern') problems.push('--era must be legacy or modern');
  const taint = a.taint === undefined ? undefined : parseTaint(a.taint, '--taint', problems);
  if (problems.length > 0 || !principal || !resource) return { text: problems.join('\n'), exitCode: 2 };
  const policy = compileFor(input);
  if ('exitCode' in policy) return policy;
  const e = policy.explain(principal, action as Action, resource, {
    args,
    time,
    era: (a.era as 'legacy' | 'modern' | undefined) ?? 'modern',
    endpoint: a.endpoint ?? 'default',
    taint,
  });
  return { text: e.text, exitCode: 0 };
}

export function testCommand(input: PolicyCommandInput, file: { name: string; text: string }, options: Omit<TableOptions, 'resolve'> = {}): CommandResult {
  const policy = compileFor(input);
  if ('exitCode' in policy) return policy;
  try {
    const tableOptions: TableOptions = { ...options };
    if (input.resolve) tableOptions.resolve = input.resolve;
    const results = runTable(policy, parseTable(file.text, tableOptions));
    return { text: formatResults(results), exitCode: results.every((r) => r.pass) ? 0 : 1 };
  } catch (e) {
    if (e instanceof TableError) return { text: e.problems.map((p) => `${file.name}: ${p}`).join('\n'), exitCode: 2 };
    throw e;
  }
}

/** JSON, or `key=value` pairs separated by commas (role, group and scope may repeat; attr.<name> sets an attribute). */
export function parsePrincipal(s: string, problems: string[]): PolicyPrincipal | undefined {
  if (s.trim().startsWith('{')) {
    const v = parseJsonObject(s, '--principal', problems);
    return v ? toPrincipal(v, '--principal', problems) : undefined;
  }
  const p: Record<string, unknown> = { roles: [], groups: [], scopes: [], attributes: {} };
  const lists: Record<string, string> = { role: 'roles', group: 'groups', scope: 'scopes' };
  const singles: Record<string, string> = { subject: 'subject', sub: 'subject', issuer: 'issuer', client: 'clientId', clientId: 'clientId', tenant: 'tenant', method: 'method' };
  for (const pair of s.split(',').filter((x) => x.trim() !== '')) {
    const i = pair.indexOf('=');
    const key = (i < 0 ? pair : pair.slice(0, i)).trim();
    const value = i < 0 ? '' : pair.slice(i + 1).trim();
    if (key in lists) (p[lists[key] as string] as string[]).push(value);
    else if (key in singles) p[singles[key] as string] = value;
    else if (key.startsWith('attr.')) (p.attributes as Record<string, unknown>)[key.slice(5)] = value;
    else problems.push(`--principal: unknown key ${JSON.stringify(key)} (expected subject, role, group, scope, tenant, client, issuer, method, attr.<name>)`);
  }
  return toPrincipal(p, '--principal', problems);
}

function parseJsonObject(s: string, flag: string, problems: string[]): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  problems.push(`${flag} must be a JSON object`);
  return undefined;
}
