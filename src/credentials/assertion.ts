/**
 * Identity assertions for token exchange (RFC 8693): a short-lived JWT, signed by the gateway, saying "this request
 * is for principal P" to one upstream's authorization server, which trusts the gateway's key (published at
 * {base}/credentials/jwks) and exchanges the assertion for an access token to the upstream.
 *
 *   header   { alg: ES256, kid, typ: "JWT" }
 *   claims   iss: {base}/credentials   sub: the principal key ("issuer subject": unique across the gateway's
 *            identity providers, unlike a bare subject)   aud: the authorization server's issuer
 *            iat, exp: 60 s later   jti: random   client_id: the gateway's client ID there
 *
 * The signing key is an ES256 key kept in the vault (`upstream-assertion-key`), made on first use.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { isVaultError } from '../vault/errors.js';
import type { Vault } from '../vault/vault.js';

const KEY_NAME = 'upstream-assertion-key';
const LIFETIME_S = 60;

interface SigningKey { kid: string; key: CryptoKey | Uint8Array; publicJwk: JWK }

export class IdentityAssertions {
  private signing: Promise<SigningKey> | undefined;

  constructor(private readonly vault: () => Vault, private readonly issuer: () => string) {}

  async mint(principal: string, audience: string, clientId: string): Promise<string> {
    const k = await this.key();
    return new SignJWT({ client_id: clientId })
      .setProtectedHeader({ alg: 'ES256', kid: k.kid, typ: 'JWT' })
      .setIssuer(this.issuer())
      .setSubject(principal)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${LIFETIME_S}s`)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(k.key);
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [(await this.key()).publicJwk] };
  }

  private key(): Promise<SigningKey> {
    if (!this.signing) {
      this.signing = this.load();
      this.signing.catch(() => { this.signing = undefined; });
    }
    return this.signing;
  }

  private async load(): Promise<SigningKey> {
    const vault = this.vault();
    let jwk: JWK;
    try {
      jwk = JSON.parse(await vault.get(KEY_NAME)) as JWK;
    } catch (e) {
      if (!isVaultError(e, 'not-found')) throw e;
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      jwk = { ...(await exportJWK(privateKey)), kid: `pc-${randomBytes(8).toString('base64url')}`, alg: 'ES256', use: 'sig' };
      await vault.set(KEY_NAME, JSON.stringify(jwk));
      // Two processes starting together: whichever wrote last is the key both use.
      jwk = JSON.parse(await vault.get(KEY_NAME)) as JWK;
    }
    const { d: _private, ...publicJwk } = jwk;
    return { kid: String(jwk.kid), key: await importJWK(jwk, 'ES256'), publicJwk };
  }
}
