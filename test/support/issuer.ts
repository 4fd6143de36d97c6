/**
 * A minimal external identity provider for tests: an OIDC discovery document and a JWKS on a loopback port, and a
 * signer for access tokens. Keys can be rotated to exercise the resource server's JWKS refresh.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export interface TestIssuer {
  issuer: string;
  /** How many times the JWKS was fetched. */
  jwksFetches: number;
  sign(claims: Record<string, unknown>, opts?: { aud?: string | string[]; expiresIn?: string | number; typ?: string; alg?: string; kid?: string; notBefore?: number }): Promise<string>;
  /** Adds a new signing key (published at once) and makes it current. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

interface Key { kid: string; privateKey: CryptoKey; jwk: JWK }

async function newKey(n: number): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k${n}`;
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const keys: Key[] = [await newKey(1)];
  let published = [...keys];
  const state = { jwksFetches: 0 };
  let base = '';
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token` }));
    } else if (path === '/jwks') {
      state.jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: base,
    get jwksFetches() { return state.jwksFetches; },
    async sign(claims, opts = {}) {
      const key = opts.kid ? keys.find((k) => k.kid === opts.kid)! : keys.at(-1)!;
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: key.kid, ...(opts.typ ? { typ: opts.typ } : {}) })
        .setIssuer((claims.iss as string | undefined) ?? base)
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '5m');
      if (opts.aud !== undefined) jwt.setAudience(opts.aud);
      if (opts.notBefore !== undefined) jwt.setNotBefore(opts.notBefore);
      return jwt.sign(key.privateKey);
    },
    async rotate() {
      keys.push(await newKey(keys.length + 1));
      published = [...keys];
    },
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
