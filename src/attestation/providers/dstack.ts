/**
 * The dstack guest agent (a dstack confidential VM), over its Unix socket: `GET /GetQuote?report_data=<hex>` returns
 * a TDX quote and the event log of the runtime measurements; `POST /GetKey` derives a key from the VM's key
 * provider (KMS), bound to the app's identity, so the identity key never exists outside the VM and is the same after
 * a restart of the same app.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { keyFromSeed, type IdentityKeyStore } from '../identityKey.js';
import { REPORT_DATA_BYTES, type HardwareQuote, type QuoteProvider } from './types.js';

export const DSTACK_SOCKET = '/var/run/dstack.sock';
/** The derivation path of the identity key; changing it changes the key. */
const KEY_PATH = 'portcullis/attestation-identity';
const TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export class DstackProvider implements QuoteProvider {
  readonly name = 'dstack';

  constructor(private readonly socketPath = DSTACK_SOCKET) {}

  async quote(reportData: Buffer): Promise<HardwareQuote> {
    if (reportData.length !== REPORT_DATA_BYTES) throw new Error(`report_data must be ${REPORT_DATA_BYTES} bytes`);
    const r = await this.call('GET', `/GetQuote?report_data=${reportData.toString('hex')}`);
    if (typeof r.quote !== 'string' || !/^(0x)?[0-9a-fA-F]+$/.test(r.quote)) throw new Error('dstack: GetQuote answered without a hex quote');
    return { format: 'tdx', quote: Buffer.from(r.quote.replace(/^0x/, ''), 'hex'), ...(typeof r.event_log === 'string' && { eventLog: r.event_log }) };
  }

  identityKeyStore(): IdentityKeyStore {
    return {
      load: async () => {
        const r = await this.call('POST', '/GetKey', { path: KEY_PATH, purpose: 'signing' });
        if (typeof r.key !== 'string' || !/^(0x)?[0-9a-fA-F]{64,}$/.test(r.key)) throw new Error('dstack: GetKey answered without a hex key');
        // The agent's key is a secp256k1 secret; an Ed25519 seed is derived from it under a label of its own.
        const seed = createHash('sha256').update('portcullis ed25519 identity seed\u0000').update(Buffer.from(r.key.replace(/^0x/, ''), 'hex')).digest();
        return keyFromSeed(seed, 'derived inside the confidential VM by the dstack key provider; never leaves it');
      },
    };
  }

  private call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath, method, path, timeout: TIMEOUT_MS,
        headers: { host: 'dstack', ...(payload && { 'content-type': 'application/json', 'content-length': payload.length }) },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('dstack: response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`dstack: ${path.split('?')[0]} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            const v: unknown = JSON.parse(text);
            if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
            resolve(v as Record<string, unknown>);
          } catch (e) {
            reject(new Error(`dstack: unreadable answer from ${path.split('?')[0]}: ${(e as Error).message}`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`dstack: no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
