/**
 * An upstream OpenID Connect provider for federated-login tests: a second oidc-provider instance on 127.0.0.1
 * with one registered client and a minimal interaction of its own (a page with one "sign in" button that resolves
 * login and consent at once for a fixed account).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { createAdapterFactory } from '../../src/identity/authServer/adapter.js';
import { createMemoryStorage } from '../../src/storage/memory.js';

export interface UpstreamUser {
  sub: string;
  groups: string[];
  preferred_username: string;
}

export interface UpstreamIdp {
  issuer: string;
  /** How many sign-ins the upstream completed. */
  readonly logins: number;
  close(): Promise<void>;
}

export async function startUpstreamIdp(o: { clientId: string; clientSecret: string; redirectUri: string; user: UpstreamUser }): Promise<UpstreamIdp> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const storage = createMemoryStorage();
  const provider = new Provider(issuer, {
    adapter: createAdapterFactory(storage.records),
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600 },
    clients: [{
      client_id: o.clientId,
      client_secret: o.clientSecret,
      redirect_uris: [o.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [{ ...key, kid: 'upstream-1', use: 'sig', alg: 'ES256' } as never] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, groups: o.user.groups, preferred_username: o.user.preferred_username }) }),
    claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
    // Scope-requested claims in the ID token (the code flow would otherwise put them in UserInfo only).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    cookies: { keys: ['upstream-test-cookie-key'] },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  const callback = provider.callback();
  const state = { logins: 0 };
  server.on('request', (req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const m = /^\/interaction\/([^/]+)$/.exec(path);
      if (!m) return callback(req, res);
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(
          `<!DOCTYPE html><title>Upstream</title><h1>Upstream identity provider</h1><form method="post" action="/interaction/${details.uid}"><button type="submit" id="upstream-login">Sign in as ${o.user.preferred_username}</button></form>`,
        );
        return;
      }
      for await (const chunk of req) void chunk;
      const grant = new provider.Grant({ accountId: o.user.sub, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      state.logins++;
      await provider.interactionFinished(req, res, { login: { accountId: o.user.sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  return {
    issuer,
    get logins() { return state.logins; },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await storage.close();
    },
  };
}
