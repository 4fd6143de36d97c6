/**
 * The console's JSON API (`{path}/api/...`). Every endpoint names the console roles it needs, except those about
 * the signed-in user alone (me, logout, accounts), which every session may use, a session without any console role
 * included; every one that changes something is a POST, carries the session's CSRF token and a same-origin Origin
 * (checked by the caller, console.ts), and appends an `admin.console.*` record to the audit log before it answers.
 *
 *   GET  api/me                          who is signed in, their roles, the CSRF token
 *   POST api/logout
 *   GET  api/accounts                    the signed-in user's own upstream accounts (per-user credentials)
 *   POST api/accounts/{upstream}/connect     { url }: a fresh connect link for the signed-in user
 *   POST api/accounts/{upstream}/disconnect  forgets (and revokes) the signed-in user's tokens there
 *   GET  api/approvals?status=pending    the queue (status: pending, approved, denied, expired, all)
 *   GET  api/approvals/events            server-sent events: "changed" on every request and decision
 *   POST api/approvals/{id}/decide       { decision: approve|deny, reason? }
 *   GET  api/audit?since&until&principal&type&outcome&upstream&text&limit
 *   GET  api/audit/verify                the chain status
 *   GET  api/servers                     review of every upstream
 *   POST api/servers/{name}/approve      { digest }: pins what was reviewed
 *   GET  api/sessions                    live 2025-era sessions of this process
 *   POST api/sessions/{id}/revoke
 *   GET  api/policy?subject&roles&groups "what can this user do?"
 *   GET  api/metrics                     the last five minutes, per second
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonObject } from '../core/jsonrpc.js';
import type { Gateway } from '../gateway.js';
import { ApprovalError, type ApprovalStatus } from '../approvals/approvals.js';
import { revokeSession } from '../transport/sessionRevocation.js';
import type { ConsoleRole } from './config.js';
import { ConsoleError, field, readJson, sendJson } from './http.js';
import type { ConsoleSession } from './sessions.js';
import { chainStatus, searchAudit } from './auditQuery.js';
import { approveReviewed, reviewAll } from './servers.js';
import { whatCanTheyDo } from './policyView.js';
import { accountsOf, connectUrl, disconnect } from './accounts.js';
import type { ApprovalFeed } from './feed.js';

export interface ApiContext {
  gw: Gateway;
  session: ConsoleSession;
  req: IncomingMessage;
  res: ServerResponse;
  /** Path segments after "api/". */
  segments: string[];
  query: URLSearchParams;
  feed: ApprovalFeed;
  logout(): Promise<void>;
}

const READ: readonly ConsoleRole[] = ['admin', 'approver', 'auditor'];
const STATUSES = new Set<ApprovalStatus | 'all'>(['pending', 'approved', 'denied', 'expired', 'all']);

function need(session: ConsoleSession, roles: readonly ConsoleRole[], what: string): void {
  if (!session.roles.some((r) => roles.includes(r))) throw new ConsoleError(403, `${what} needs the console role ${roles.join(' or ')}; you have ${session.roles.join(', ') || 'none'}`);
}

/** Appends the admin record; the response waits until it is durable (an action the log cannot take fails loudly). */
async function audited(c: ApiContext, action: string, detail: JsonObject, act: () => Promise<JsonObject>): Promise<void> {
  let result: JsonObject;
  try {
    result = await act();
  } catch (e) {
    const outcome = e instanceof ApprovalError ? e.code : e instanceof ConsoleError ? `http_${e.status}` : 'error';
    await record(c, action, outcome, { ...detail, error: (e as Error).message });
    throw e;
  }
  await record(c, action, 'ok', detail);
  sendJson(c.res, 200, result);
}

async function record(c: ApiContext, action: string, outcome: string, detail: JsonObject): Promise<void> {
  await c.gw.audit?.append({ type: `admin.console.${action}`, principal: c.session.subject, issuer: c.session.issuer, client: 'portcullis-console', outcome, detail });
}

const numberParam = (q: URLSearchParams, name: string): number | undefined => {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new ConsoleError(400, `${name} must be a time (ISO 8601 or epoch milliseconds)`);
  return n;
};

const list = (v: string | null): string[] => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean).slice(0, 50);

export async function handleApi(c: ApiContext): Promise<void> {
  const { gw, session, req, segments: seg, query: q } = c;
  const post = req.method === 'POST';
  const route = `${req.method} ${seg[0] ?? ''}${seg.length > 1 ? '/*' : ''}${seg.length > 2 ? `/${seg[2]}` : ''}`;
  switch (route) {
    case 'GET me':
      return sendJson(c.res, 200, { subject: session.subject, issuer: session.issuer, roles: session.roles, csrf: session.csrf, expiresAt: session.expiresAt, audit: gw.audit !== undefined });
    case 'POST logout':
      await record(c, 'signout', 'ok', {});
      await c.logout();
      return sendJson(c.res, 200, { ok: true });

    // No role needed: always the session's own principal, never one named by the request.
    case 'GET accounts':
      return sendJson(c.res, 200, { accounts: await accountsOf(gw, session.key) });
    case 'POST accounts/*/connect': {
      const upstream = seg[1]!;
      // The URL is a capability: in the answer only, not in the audit record.
      return audited(c, 'accounts.connect', { upstream }, async () => ({ upstream, url: await connectUrl(gw, upstream, session.key) }));
    }
    case 'POST accounts/*/disconnect': {
      const upstream = seg[1]!;
      return audited(c, 'accounts.disconnect', { upstream }, async () => ({ upstream, disconnected: await disconnect(gw, upstream, session.key) }));
    }

    case 'GET approvals': {
      need(session, READ, 'the approvals queue');
      const status = q.get('status') ?? 'pending';
      if (!STATUSES.has(status as ApprovalStatus)) throw new ConsoleError(400, 'status must be pending, approved, denied, expired or all');
      const views = await gw.approvals.store.list(status === 'all' ? undefined : (status as ApprovalStatus));
      return sendJson(c.res, 200, { approvals: views.slice(0, 200) });
    }
    case 'GET approvals/*':
      if (seg[1] !== 'events') break;
      need(session, READ, 'the approvals queue');
      return c.feed.subscribe(req, c.res);
    case 'POST approvals/*/decide': {
      need(session, ['approver', 'admin'], 'deciding an approval');
      const body = await readJson(req);
      const decision = body.decision;
      if (decision !== 'approve' && decision !== 'deny') throw new ConsoleError(400, 'decision must be "approve" or "deny"');
      const reason = field(body.reason);
      const id = seg[1]!;
      return audited(c, `approvals.${decision}`, { approval: id, ...(reason ? { reason } : {}) }, async () => {
        const view = await gw.approvals.decide(id, { key: session.key, subject: session.subject, roles: session.tokenRoles, operator: session.operator }, decision, reason);
        return { id: view.id, status: view.status };
      });
    }

    case 'GET audit': {
      need(session, ['auditor', 'admin'], 'the audit log');
      if (!gw.audit) throw new ConsoleError(404, 'the audit log is off (audit.enabled: false)');
      const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
      const found = await searchAudit(gw.audit, {
        since: numberParam(q, 'since'), until: numberParam(q, 'until'), principal: field(q.get('principal')), type: field(q.get('type')),
        outcome: field(q.get('outcome')), upstream: field(q.get('upstream')), text: field(q.get('text')), limit: Number.isFinite(limit) ? limit : undefined,
      });
      return sendJson(c.res, 200, found);
    }
    case 'GET audit/*':
      if (seg[1] !== 'verify') break;
      need(session, ['auditor', 'admin'], 'the audit log');
      if (!gw.audit) throw new ConsoleError(404, 'the audit log is off (audit.enabled: false)');
      return sendJson(c.res, 200, await chainStatus(gw.audit));

    case 'GET servers':
      need(session, ['admin', 'auditor'], 'the servers page');
      return sendJson(c.res, 200, { servers: await reviewAll(gw) });
    case 'POST servers/*/approve': {
      need(session, ['admin'], 'approving a server');
      const body = await readJson(req);
      const digest = field(body.digest, 100);
      if (!digest) throw new ConsoleError(400, 'digest (of the reviewed definitions) is required');
      const name = seg[1]!;
      return audited(c, 'servers.approve', { server: name, digest }, async () => ({ server: name, ...(await approveReviewed(gw, name, digest, session.subject)) }));
    }

    case 'GET sessions':
      need(session, ['admin', 'auditor'], 'the sessions page');
      return sendJson(c.res, 200, {
        sessions: gw.sessions.list().map((s) => ({
          id: s.id, endpoint: s.endpoint.key, principal: s.principal, protocolVersion: s.protocolVersion,
          client: s.clientInfo ? { name: s.clientInfo.name, version: s.clientInfo.version } : undefined, createdAt: s.createdAt, lastSeen: s.lastSeen,
        })),
      });
    case 'POST sessions/*/revoke': {
      need(session, ['admin'], 'revoking a session');
      const id = seg[1]!;
      return audited(c, 'sessions.revoke', { session: id }, async () => {
        await revokeSession(gw.storage.records, id);
        // This process ends it now; other replicas at their next poll.
        await gw.sessions.applyRevocations();
        return { session: id, revoked: true };
      });
    }

    case 'GET policy': {
      need(session, ['admin', 'auditor'], 'the policy view');
      const subject = field(q.get('subject'), 200);
      if (!subject) throw new ConsoleError(400, 'subject is required');
      return sendJson(c.res, 200, { servers: await whatCanTheyDo(gw, { subject, roles: list(q.get('roles')), groups: list(q.get('groups')) }) });
    }

    case 'GET metrics':
      need(session, READ, 'the metrics');
      return sendJson(c.res, 200, gw.consoleMetrics.snapshot());
  }
  throw new ConsoleError(post || req.method === 'GET' ? 404 : 405, `no console API ${req.method} ${seg.join('/')}`);
}
