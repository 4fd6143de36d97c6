/**
 * The pages a person sees: sign in (local password or an upstream provider), approve a client, choose a password
 * from a setup link. oidc-provider runs the protocol; these handlers resolve its "interactions" (login, consent).
 *
 * Routes, under the issuer path:
 *   GET  /interaction/{uid}                      the login or consent page
 *   POST /interaction/{uid}/login                user name + password
 *   POST /interaction/{uid}/consent              allow / deny
 *   GET  /interaction/{uid}/federate/{name}      off to the upstream provider
 *   GET  /federate/{name}/callback               back from it (the redirect URI registered there)
 *   GET  /interaction/{uid}/federated/{ticket}   completes the sign-in in the browser holding the interaction
 *   GET  /setup/{token}, POST /setup/{token}     choose a password
 *
 * Every POST must be same-origin and carry the CSRF token of its page (an HMAC bound to the interaction or link).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Logger } from '../../core/log.js';
import type { RecordStore } from '../../storage/types.js';
import { looksLikeMetadataUrl } from './cimd.js';
import { isLocalRedirect } from './clients.js';
import type { ConsentStore } from './consent.js';
import { Federation, FederationError } from './federation.js';
import { clientAddress, Csrf, FormError, formTargetFor, readForm, redirect, sameOrigin, sendHtml } from './http.js';
import { consentPage, loginPage, messagePage, setupPage, type ClientView, type ScopeView } from './pages.js';
import { passwordProblem } from './password.js';
import { applyDecisions, type AccountView } from './provider.js';
import { accountKey, addressKey, type LoginLimiter } from './rateLimit.js';
import { PROTOCOL_SCOPES, type ScopePolicy } from './scopes.js';
import { tokenHash, type SetupLinks } from './setupLinks.js';
import { UserError, type UserDirectory } from './users.js';

export const FEDERATION_DONE_NS = 'oauth:federationDone';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface InteractionDeps {
  provider: () => Provider;
  issuer: string;
  users: UserDirectory;
  accounts: (id: string) => Promise<AccountView | undefined>;
  consents: ConsentStore;
  scopes: ScopePolicy;
  resourceFor: (indicator: string) => { uri: string; name: string } | undefined;
  limiter: LoginLimiter;
  federation: Federation;
  setupLinks: SetupLinks;
  preRegisteredIds: ReadonlySet<string>;
  records: RecordStore;
  csrf: Csrf;
  log: Logger;
}

class PageError extends Error {
  constructor(readonly status: number, readonly title: string, message: string) { super(message); }
}

const EXPIRED = new PageError(400, 'Sign-in expired', 'This sign-in page has expired or was replaced by a newer one. Start again from the application.');

const listOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
const scopesOf = (params: Record<string, unknown>): string[] => (typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : []);

export class InteractionPages {
  private readonly base: string;
  private readonly origin: string;

  constructor(private readonly d: InteractionDeps) {
    this.base = new URL(d.issuer).pathname;
    this.origin = new URL(d.issuer).origin;
  }

  /** Serves `sub` (the path below the issuer) when it is one of these pages; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, sub: string, query: URLSearchParams): Promise<boolean> {
    const page = this.route(req, res, sub, query);
    if (!page) return false;
    try {
      await page();
    } catch (e) {
      this.fail(res, e);
    }
    return true;
  }

  private route(req: IncomingMessage, res: ServerResponse, sub: string, query: URLSearchParams): (() => Promise<void>) | undefined {
    const seg = sub.split('/').slice(1).map((s) => { try { return decodeURIComponent(s); } catch { return '\u0000'; } });
    const [first, id, action, arg] = seg;
    const get = req.method === 'GET';
    const post = req.method === 'POST';
    if (first === 'interaction' && id) {
      if (seg.length === 2 && get) return () => this.show(req, res, id);
      if (seg.length === 3 && action === 'login' && post) return () => this.login(req, res, id);
      if (seg.length === 3 && action === 'consent' && post) return () => this.consent(req, res, id);
      if (seg.length === 4 && action === 'federate' && get) return () => this.federate(req, res, id, arg!);
      if (seg.length === 4 && action === 'federated' && get) return () => this.federated(req, res, id, arg!);
      return undefined;
    }
    if (first === 'federate' && id && seg.length === 3 && action === 'callback' && get) return () => this.callback(res, id, query);
    if (first === 'setup' && id && seg.length === 2 && (get || post)) return () => this.setup(req, res, id);
    return undefined;
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent) { res.destroy(); return; }
    if (e instanceof PageError) return sendHtml(res, e.status, messagePage(e.title, e.message));
    if (e instanceof FormError) return sendHtml(res, e.status, messagePage('Request refused', e.message));
    if (e instanceof FederationError) return sendHtml(res, 400, messagePage('Sign-in failed', e.message));
    if (e instanceof errors.SessionNotFound) return sendHtml(res, EXPIRED.status, messagePage(EXPIRED.title, EXPIRED.message));
    this.d.log.error({ err: (e as Error).stack }, 'authorization page failed');
    sendHtml(res, 500, messagePage('Something went wrong', 'The sign-in could not be completed. Try again from the application.'));
  }

  /** The interaction behind this browser's cookie; it must be the one the URL names. */
  private async details(req: IncomingMessage, res: ServerResponse, uid: string, prompt?: string): Promise<Interaction> {
    const details = await this.d.provider().interactionDetails(req, res);
    if (details.uid !== uid || (prompt && details.prompt.name !== prompt)) throw EXPIRED;
    return details;
  }

  private checkPost(req: IncomingMessage, form: URLSearchParams, purpose: string, binding: string): void {
    if (!sameOrigin(req, this.origin)) throw new PageError(403, 'Request refused', 'This form was not sent from this server\'s own page.');
    if (!this.d.csrf.check(purpose, binding, form.get('csrf'))) throw new PageError(403, 'Request refused', 'The form is missing its security token or it does not match. Reload the page and try again.');
  }

  private async clientView(params: Record<string, unknown>): Promise<ClientView> {
    const id = String(params.client_id);
    const client = await this.d.provider().Client.find(id);
    const redirectUri = String(params.redirect_uri ?? client?.redirectUris?.[0] ?? '');
    let fallback = id;
    if (looksLikeMetadataUrl(id)) try { fallback = new URL(id).host; } catch { /* keep the id */ }
    return {
      name: client?.clientName ?? fallback,
      id,
      kind: looksLikeMetadataUrl(id) ? 'metadata document' : this.d.preRegisteredIds.has(id) ? 'configured' : 'registered',
      redirectUri,
      localRedirect: isLocalRedirect(redirectUri),
    };
  }

  /** What is asked per resource; with an account, split into what it gets and what it may not have. */
  private scopeViews(params: Record<string, unknown>, account?: AccountView): ScopeView[] {
    const requested = scopesOf(params);
    return listOf(params.resource).map((indicator) => {
      const r = this.d.resourceFor(indicator);
      const uri = r?.uri ?? indicator;
      const split = account
        ? this.d.scopes.decide({ id: account.id, groups: account.groups }, uri, requested)
        : { granted: requested.filter((s) => this.d.scopes.resourceScopes.includes(s)), refused: [] };
      return { resourceName: r?.name ?? indicator, resource: uri, ...split };
    });
  }

  private async show(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    const details = await this.details(req, res, uid);
    if (details.prompt.name === 'login') return this.renderLogin(res, details);
    if (details.prompt.name === 'consent') return this.renderConsent(res, details);
    throw new PageError(400, 'Unsupported request', `This server cannot complete the "${details.prompt.name}" step.`);
  }

  private async renderLogin(res: ServerResponse, details: Interaction, status = 200, extra: { error?: string; username?: string; headers?: Record<string, string> } = {}): Promise<void> {
    const client = await this.clientView(details.params);
    const html = loginPage({
      client,
      scopes: this.scopeViews(details.params),
      action: `${this.base}/interaction/${encodeURIComponent(details.uid)}/login`,
      csrf: this.d.csrf.token('login', details.uid),
      federation: this.d.federation.providers.map((p) => ({ label: `Sign in with ${p.label}`, href: `${this.base}/interaction/${encodeURIComponent(details.uid)}/federate/${encodeURIComponent(p.name)}` })),
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.username ? { username: extra.username } : {}),
    });
    for (const [k, v] of Object.entries(extra.headers ?? {})) res.setHeader(k, v);
    sendHtml(res, status, html, formTargetFor(client.redirectUri));
  }

  private async renderConsent(res: ServerResponse, details: Interaction): Promise<void> {
    const account = details.session?.accountId ? await this.d.accounts(details.session.accountId) : undefined;
    if (!account) throw EXPIRED;
    const client = await this.clientView(details.params);
    const html = consentPage({
      client,
      account: account.display,
      scopes: this.scopeViews(details.params, account),
      protocolScopes: scopesOf(details.params).filter((s) => (PROTOCOL_SCOPES as readonly string[]).includes(s)),
      action: `${this.base}/interaction/${encodeURIComponent(details.uid)}/consent`,
      csrf: this.d.csrf.token('consent', details.uid),
    });
    sendHtml(res, 200, html, formTargetFor(client.redirectUri));
  }

  private async login(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    const details = await this.details(req, res, uid, 'login');
    const form = await readForm(req);
    this.checkPost(req, form, 'login', uid);
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const keys = [accountKey(username), addressKey(clientAddress(req))];
    const wait = await this.d.limiter.blockedFor(keys);
    if (wait > 0) {
      const minutes = Math.ceil(wait / 60);
      return this.renderLogin(res, details, 429, {
        username,
        error: `Too many failed sign-in attempts for this account or from your address. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
        headers: { 'retry-after': String(wait) },
      });
    }
    const user = username && password ? await this.d.users.verify(username, password) : undefined;
    if (!user) {
      await this.d.limiter.fail(keys);
      this.d.log.info({ username, address: clientAddress(req) }, 'failed sign-in');
      return this.renderLogin(res, details, 400, { username, error: 'Wrong user name or password.' });
    }
    await this.d.limiter.reset(accountKey(username));
    this.d.log.info({ account: user.username, client: details.params.client_id }, 'signed in');
    await this.d.provider().interactionFinished(req, res, { login: { accountId: user.username, amr: ['pwd'], remember: true } }, { mergeWithLastSubmission: false });
  }

  private async consent(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    const details = await this.details(req, res, uid, 'consent');
    const form = await readForm(req);
    this.checkPost(req, form, 'consent', uid);
    const provider = this.d.provider();
    const accountId = details.session?.accountId;
    const account = accountId ? await this.d.accounts(accountId) : undefined;
    if (!account) throw EXPIRED;
    const clientId = String(details.params.client_id);
    if (form.get('decision') !== 'allow') {
      this.d.log.info({ account: account.id, client: clientId }, 'access denied by the user');
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user did not allow access' }, { mergeWithLastSubmission: false });
    }
    const requested = scopesOf(details.params);
    const approved: Record<string, string[]> = {};
    const decisions = listOf(details.params.resource).map((indicator) => {
      const r = this.d.resourceFor(indicator);
      if (!r) throw new PageError(400, 'Request refused', 'The request names an unknown resource.');
      const decision = this.d.scopes.decide({ id: account.id, groups: account.groups }, r.uri, requested);
      approved[r.uri] = decision.granted;
      return { indicator, ...decision };
    });
    const protocol = requested.filter((s) => (PROTOCOL_SCOPES as readonly string[]).includes(s));
    const grant = new provider.Grant({ accountId: account.id, clientId });
    applyDecisions(grant, decisions, protocol);
    const grantId = await grant.save();
    if (Object.values(approved).some((s) => s.length > 0)) await this.d.consents.remember(account.id, clientId, approved, protocol);
    this.d.log.info({ account: account.id, client: clientId, scopes: approved }, 'access allowed by the user');
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  private async federate(req: IncomingMessage, res: ServerResponse, uid: string, name: string): Promise<void> {
    await this.details(req, res, uid, 'login');
    if (!this.d.federation.has(name)) throw new PageError(404, 'Unknown provider', `There is no sign-in provider "${name}".`);
    redirect(res, await this.d.federation.start(name, uid));
  }

  private async callback(res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    if (!this.d.federation.has(name)) throw new PageError(404, 'Unknown provider', `There is no sign-in provider "${name}".`);
    const { uid, account } = await this.d.federation.finish(name, query);
    const ticket = randomBytes(24).toString('base64url');
    await this.d.records.put(FEDERATION_DONE_NS, ticket, { uid, accountId: account.accountId }, { ttlMs: 5 * 60 * 1000 });
    redirect(res, `${this.base}/interaction/${encodeURIComponent(uid)}/federated/${ticket}`);
  }

  private async federated(req: IncomingMessage, res: ServerResponse, uid: string, ticket: string): Promise<void> {
    await this.details(req, res, uid, 'login');
    const done = await this.d.records.consume(FEDERATION_DONE_NS, ticket, 'usedAt', Date.now());
    await this.d.records.delete(FEDERATION_DONE_NS, ticket);
    if (!done || done.usedAt !== undefined || done.uid !== uid || typeof done.accountId !== 'string') throw EXPIRED;
    this.d.log.info({ account: done.accountId }, 'signed in through a federated provider');
    await this.d.provider().interactionFinished(req, res, { login: { accountId: done.accountId, amr: ['fed'], remember: true } }, { mergeWithLastSubmission: false });
  }

  private async setup(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const gone = new PageError(400, 'Link expired', 'This link has expired or was already used. Ask an administrator for a new one.');
    const username = await this.d.setupLinks.peek(token);
    if (!username) throw gone;
    const action = `${this.base}/setup/${encodeURIComponent(token)}`;
    const csrf = this.d.csrf.token('setup', tokenHash(token));
    if (req.method === 'GET') return sendHtml(res, 200, setupPage({ username, action, csrf }), []);
    const form = await readForm(req);
    this.checkPost(req, form, 'setup', tokenHash(token));
    const password = form.get('password') ?? '';
    const problem = password !== (form.get('confirm') ?? '') ? 'The two passwords differ.' : passwordProblem(password);
    if (problem) return sendHtml(res, 400, setupPage({ username, action, csrf, error: problem }), []);
    if ((await this.d.setupLinks.consume(token)) !== username) throw gone;
    try {
      await this.d.users.setPassword(username, password);
    } catch (e) {
      if (e instanceof UserError) throw new PageError(400, 'Password not set', e.message);
      throw e;
    }
    this.d.log.info({ account: username }, 'password set from a setup link');
    sendHtml(res, 200, messagePage('Password set', `The password of ${username} is set. You can now sign in from your application.`));
  }
}
