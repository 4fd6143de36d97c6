/**
 * An OAuth-protected upstream for per-user credential tests, all on 127.0.0.1:
 *
 *   - its authorization server: oidc-provider with one confidential client (the gateway), authorization code + PKCE,
 *     RFC 8707 resource indicators (JWT access tokens whose audience is the MCP server), short-lived access tokens,
 *     rotating refresh tokens and RFC 7009 revocation; its sign-in page takes the account name from the form, so a
 *     test can connect different accounts;
 *   - the MCP server: Streamable HTTP (2025-11-25, JSON answers), every request needs a Bearer token verified
 *     against the authorization server's JWKS with the issuer and its own URL as audience; a 401 names its Protected
 *     Resource Metadata. Its one tool, `whoami`, answers with the token's subject, and every token it saw is kept.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { errors } from 'oidc-provider';
import { SignJWT, createRemoteJWKSet, importJWK, jwtVerify } from 'jose';
import { createAdapterFactory } from '../../src/identity/authServer/adapter.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import { browse, locationOf, type CookiesByOrigin } from './browse.js';

export interface ProtectedUpstream {
  /** The authorization server's issuer. */
  issuer: string;
  /** The MCP endpoint (and the resource its tokens are bound to). */
  mcpUrl: string;
  clientId: string;
  clientSecret: string;
  /** Every token the MCP server accepted, with its subject, in order. */
  readonly seen: { sub: string; token: string }[];
  /** Requests the MCP server refused with 401. */
  readonly refused: number;
  /** The next `n` requests are refused with 401 although their tokens are valid (a token revoked early). */
  rejectNext(n: number): void;
  /**
   * Registers the gateway's redirect URI (known once the gateway listens) and starts the authorization server. With
   * `exchangeFrom` (the gateway's base URL) it also accepts RFC 8693 token exchange of the gateway's identity
   * assertions (verified against {base}/credentials/jwks), issuing tokens for the subject `xchg:{assertion sub}`,
   * except for principals in `denied`.
   */
  configure(redirectUri: string, exchangeFrom?: { base: string; denied: string[] }): void;
  /** Token exchanges granted. */
  readonly exchanges: number;
  /** The identity assertions the token endpoint received. */
  readonly assertions: string[];
  /** A refresh_token grant straight at the token endpoint (to prove a revoked refresh token is dead). */
  refreshDirectly(refreshToken: string): Promise<number>;
  /** Revokes a token at the authorization server as the client would (the user revoking access there). */
  revokeDirectly(token: string): Promise<void>;
  close(): Promise<void>;
}

export async function startProtectedUpstream(o: { accessTokenTtl: number }): Promise<ProtectedUpstream> {
  const clientId = 'portcullis-gateway';
  const clientSecret = 'upstream-client-secret-0123456789abcdef';
  const asServer = await listen(createServer());
  const issuer = `http://127.0.0.1:${(asServer.address() as AddressInfo).port}`;
  const mcpServer = await listen(createServer());
  const mcpUrl = `http://127.0.0.1:${(mcpServer.address() as AddressInfo).port}/mcp`;
  const storage = createMemoryStorage();
  const state = { seen: [] as { sub: string; token: string }[], refused: 0, rejectNext: 0, exchanges: 0, assertions: [] as string[] };
  let provider: Provider | undefined;

  asServer.on('request', (req, res) => {
    if (!provider) return void res.writeHead(503).end();
    const p = provider;
    void (async () => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const m = /^\/interaction\/([^/]+)$/.exec(path);
      if (!m) return p.callback()(req, res);
      const details = await p.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><title>Upstream</title><form method="post"><input name="account"><button>Sign in</button></form>`);
        return;
      }
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const account = new URLSearchParams(body).get('account') ?? '';
      const grant = new p.Grant({ accountId: account, clientId: String(details.params.client_id) });
      grant.addResourceScope(mcpUrl, 'tools');
      const grantId = await grant.save();
      await p.interactionFinished(req, res, { login: { accountId: account }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });

  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const prm = `http://127.0.0.1:${(mcpServer.address() as AddressInfo).port}/.well-known/oauth-protected-resource/mcp`;
  mcpServer.on('request', (req, res) => {
    void serveMcp(req, res).catch((e: unknown) => { if (!res.headersSent) res.writeHead(500).end(String(e)); });
  });

  async function serveMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      return json(res, 200, { resource: mcpUrl, authorization_servers: [issuer], scopes_supported: ['tools'] });
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    let sub: string;
    try {
      if (state.rejectNext > 0 && req.method === 'POST') {
        state.rejectNext--;
        throw new Error('refused on purpose');
      }
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: mcpUrl });
      sub = String(payload.sub);
    } catch {
      state.refused++;
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${prm}"` }).end();
      return;
    }
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const msg = JSON.parse(body) as { id?: number | string; method?: string; params?: { name?: string; arguments?: { delayMs?: number } } };
    if (msg.id === undefined) return void res.writeHead(202).end();
    state.seen.push({ sub, token });
    const reply = (result: unknown) => json(res, 200, { jsonrpc: '2.0', id: msg.id, result });
    switch (msg.method) {
      case 'initialize':
        return reply({ protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'protected', version: '1.0.0' } });
      case 'tools/list':
        return reply({ tools: [{ name: 'whoami', description: 'Says whose token it saw.', inputSchema: { type: 'object', properties: { delayMs: { type: 'number' } } } }] });
      case 'tools/call': {
        const delay = msg.params?.arguments?.delayMs ?? 0;
        if (delay) await new Promise((r) => setTimeout(r, delay));
        return reply({ content: [{ type: 'text', text: `sub=${sub}` }] });
      }
      default:
        return json(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
    }
  }

  return {
    issuer, mcpUrl, clientId, clientSecret,
    get seen() { return state.seen; },
    get refused() { return state.refused; },
    rejectNext(n) { state.rejectNext = n; },
    get exchanges() { return state.exchanges; },
    get assertions() { return state.assertions; },
    configure(redirectUri, exchangeFrom) {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
      const exchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
      const p = provider = new Provider(issuer, {
        adapter: createAdapterFactory(storage.records),
        clients: [{
          client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'refresh_token', ...(exchangeFrom ? [exchange] : [])], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256',
        }],
        jwks: { keys: [{ ...key, kid: 'as-1', use: 'sig', alg: 'ES256' } as never] },
        findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
        features: {
          devInteractions: { enabled: false },
          revocation: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => mcpUrl,
            getResourceServerInfo: () => ({ scope: 'tools', audience: mcpUrl, accessTokenTTL: o.accessTokenTtl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
            useGrantedResource: () => true,
          },
        },
        pkce: { required: () => true },
        issueRefreshToken: async () => true,
        rotateRefreshToken: true,
        ttl: { Interaction: 600, Grant: 3600, Session: 600, RefreshToken: 3600 },
        cookies: { keys: ['protected-upstream-cookie-key'] },
        interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      });
      if (!exchangeFrom) return;
      const gatewayKeys = createRemoteJWKSet(new URL(`${exchangeFrom.base}/credentials/jwks`));
      p.registerGrantType(exchange, async (ctx) => {
        const params = ctx.oidc.params as Record<string, string | undefined>;
        if (params.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt') throw new errors.InvalidRequest('subject_token_type must be jwt');
        if (params.resource !== mcpUrl) throw new errors.InvalidTarget('unknown resource');
        state.assertions.push(params.subject_token ?? '');
        let sub: string;
        try {
          const { payload } = await jwtVerify(params.subject_token ?? '', gatewayKeys, { issuer: `${exchangeFrom.base}/credentials`, audience: issuer, maxTokenAge: 120 });
          if (payload.client_id !== ctx.oidc.client!.clientId) throw new Error('assertion for another client');
          sub = String(payload.sub);
        } catch {
          throw new errors.InvalidGrant('the subject token is not a valid assertion of the trusted gateway');
        }
        if (exchangeFrom.denied.includes(sub)) throw new errors.InvalidGrant('this user may not use the upstream');
        const token = await new SignJWT({ scope: 'tools', client_id: clientId })
          .setProtectedHeader({ alg: 'ES256', kid: 'as-1', typ: 'at+jwt' })
          .setIssuer(issuer).setSubject(`xchg:${sub}`).setAudience(mcpUrl).setIssuedAt().setExpirationTime(`${o.accessTokenTtl}s`)
          .sign(await importJWK({ ...key, alg: 'ES256' } as never, 'ES256'));
        state.exchanges++;
        ctx.body = { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: o.accessTokenTtl };
      }, ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'scope']);
    },
    async refreshDirectly(refreshToken) {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      });
      await r.text();
      return r.status;
    },
    async revokeDirectly(token) {
      const r = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ token, token_type_hint: 'refresh_token' }).toString(),
      });
      await r.text();
      if (r.status !== 200) throw new Error(`revocation answered ${r.status}`);
    },
    async close() {
      for (const s of [asServer, mcpServer]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
      await storage.close();
    },
  };
}

async function listen(server: Server): Promise<Server> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/**
 * Connects an account the way a user's browser would: the gateway's confirmation page, its button, the upstream's
 * sign-in (as `account`), the redirects back to the gateway's callback. Cookies are kept per origin in `jar` (pass
 * one holding a console session to connect as that browser's user). Returns the final page's status and text.
 */
export async function connectAccount(connectUrl: string, account: string, jar: CookiesByOrigin = new Map()): Promise<{ status: number; text: string }> {
  const go = (url: string, init: { method?: string; body?: string } = {}) => browse(jar, url, init);
  const page = await go(connectUrl);
  if (page.status !== 200) return { status: page.status, text: await page.text() };
  await page.text();
  let res = await go(connectUrl, { method: 'POST', body: '' });
  for (let hops = 0; hops < 20; hops++) {
    if (res.status >= 300 && res.status < 400) {
      const next = locationOf(res, res.url || connectUrl);
      await res.text();
      res = await go(next);
      continue;
    }
    const text = await res.text();
    if (res.status === 200 && /\/interaction\//.test(res.url) ) {
      res = await go(res.url, { method: 'POST', body: new URLSearchParams({ account }).toString() });
      continue;
    }
    return { status: res.status, text };
  }
  throw new Error('too many redirects');
}

/** The auth section of a gateway that accepts tokens of one external issuer only (a test issuer on loopback). */
export const externalIssuerAuthYaml = (issuer: string): string => `auth:
  mode: oauth
  builtin: { enabled: false }
  issuers:
    - { issuer: ${issuer}, allowPrivateNetworks: true }
`;

/**
 * An upstream entry (under `upstreams:`) reaching `up` with each user's credentials. `secret`: the client secret in
 * the YAML itself, or "vault" for `${secret:up_client}`; `issuer`: name the upstream's authorization server
 * (otherwise it is discovered from the resource's metadata); `extra`: more lines of the entry, indented.
 */
export function credentialsUpstreamYaml(name: string, up: ProtectedUpstream, mode: 'per-user' | 'token-exchange', o: { secret?: 'inline' | 'vault'; issuer?: boolean; extra?: string } = {}): string {
  const secret = o.secret === 'inline' ? up.clientSecret : '"${secret:up_client}"';
  return `  ${name}:
    transport: http
    url: ${up.mcpUrl}
${o.extra ?? ''}    credentials:
      mode: ${mode}
      oauth: { ${o.issuer ? `issuer: ${up.issuer}, ` : ''}clientId: ${up.clientId}, clientSecret: ${secret}, scopes: [tools], allowPrivateNetworks: true }
`;
}
