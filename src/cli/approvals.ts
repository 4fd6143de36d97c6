/**
 * portcullis approvals list|show|approve|deny: the approval queue from the command line, over the same storage the
 * gateways use (their waiting calls see a decision within a second). The operator who runs the command is the
 * approver (their operating-system user, or --as NAME); four eyes still holds: nobody approves their own call.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { openStorage } from '../storage/index.js';
import { openAdminAudit } from '../audit/admin.js';
import { createLogger } from '../core/log.js';
import { Approvals, ApprovalError } from '../approvals/approvals.js';
import type { ApprovalStatus, ApprovalView } from '../approvals/store.js';
import { formatApproval, formatApprovalLine } from '../approvals/format.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired'];

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      all: { type: 'boolean', default: false },
      status: { type: 'string' },
      json: { type: 'boolean', default: false },
      reason: { type: 'string', short: 'r' },
      as: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [action, id, ...rest] = positionals;
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (values.status !== undefined && !(STATUSES as readonly string[]).includes(values.status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  const config = await loadCliConfig(values.config);
  if (config.storage.driver === 'memory') throw new Error('storage.driver is "memory": approvals live only inside the running gateway');
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  try {
    const approvals = new Approvals(storage.records, config.approvals, createLogger('silent'));
    switch (action) {
      case 'list': {
        if (id !== undefined) throw new UsageError('list takes no id');
        const status = values.all ? undefined : ((values.status ?? 'pending') as ApprovalStatus);
        const list = await approvals.store.list(status);
        if (values.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        else if (list.length === 0) process.stdout.write(`no ${status ?? ''} approvals\n`.replace('  ', ' '));
        else process.stdout.write(list.map(formatApprovalLine).join('\n') + '\n');
        return 0;
      }
      case 'show': {
        const view = await need(approvals, id);
        process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : formatApproval(view));
        return 0;
      }
      case 'approve':
      case 'deny': {
        const view = await need(approvals, id);
        if (action === 'deny' && !values.reason) throw new UsageError('deny needs --reason: the caller is told why');
        const who = values.as ?? operator();
        const audit = await openAdminAudit(config);
        try {
          let after: ApprovalView;
          try {
            after = await approvals.decide(view.id, { key: `os ${who}`, subject: who, roles: [], operator: true }, action === 'approve' ? 'approve' : 'deny', values.reason);
          } catch (e) {
            if (e instanceof ApprovalError) {
              await audit.record(`approvals.${action}`, { approval: view.id, by: who, error: e.message }, 'refused');
              process.stderr.write(`portcullis approvals: ${e.message}\n`);
              return 1;
            }
            throw e;
          }
          await audit.record(`approvals.${action}`, { approval: view.id, by: who, ...(values.reason !== undefined && { reason: values.reason }), status: after.status });
          process.stdout.write(`${action === 'approve' ? 'approved' : 'denied'} ${view.id} (now ${after.status}${after.status === 'pending' ? `: ${after.requirement.required - new Set(after.decisions.map((x) => x.approver.key)).size} more approval(s) needed` : ''})\n`);
          return 0;
        } finally {
          await audit.close();
        }
      }
      default:
        throw new UsageError(action === undefined ? 'missing action (list, show, approve, deny)' : `unknown action "${action}" (expected list, show, approve, deny)`);
    }
  } finally {
    await storage.close();
  }
}

async function need(approvals: Approvals, id: string | undefined): Promise<ApprovalView> {
  if (id === undefined) throw new UsageError('missing approval id (see portcullis approvals list)');
  const view = await approvals.store.get(id);
  if (!view) throw new Error(`no approval ${id}`);
  return view;
}

function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'operator';
  }
}
