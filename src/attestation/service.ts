/**
 * The gateway's side of attestation: at start it detects the TEE (or its absence), loads the identity key and
 * measures its code; per request it measures the configuration in force and the pins, hashes the tools it serves,
 * asks the hardware for a quote over all of it (tee mode) and signs the document.
 */
import type { GatewayConfig } from '../config/types.js';
import type { JsonObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { Admission } from '../integrity/admission.js';
import { readAllPins } from '../integrity/pins.js';
import type { RecordStore } from '../storage/types.js';
import { measureCode, runningCode, type CodeMeasurement, type CodeTree } from './code.js';
import { measureConfig } from './configMeasure.js';
import {
  ATTESTATION_PATH, DOCUMENT_VERSION, PLAIN_HTTP_NOTE, SOFTWARE_STATEMENT, TEE_STATEMENT, reportDataFor, signDocument,
  type AttestationDocument, type SignedDocument,
} from './document.js';
import { EphemeralIdentityKeyStore, VaultIdentityKeyStore, rawPublicKey, type IdentityKey, type IdentityKeyStore } from './identityKey.js';
import { combine, type Measurement } from './measurement.js';
import { measurePins } from './pins.js';
import { detectProvider, type Detection, type DetectOptions } from './providers/detect.js';
import { liveTools, servedTools, toolsHashOf } from './tools.js';
import { vaultFor } from '../vault/resolve.js';
import { KeyFileProvider, keyProviderFor } from '../vault/keyProviders.js';

/** Served tool lists are hashed at most this often (each hash lists every upstream's tools). */
const TOOLS_TTL_MS = 1000;
/** Documents being built at once; beyond, a request is refused (hardware quotes are slow and one at a time). */
const MAX_IN_FLIGHT = 16;

/** Too many documents requested at once (HTTP 503). */
export class AttestationBusyError extends Error {
  override name = 'AttestationBusyError';
}

export interface AttestationDeps {
  /** The configuration in force (reloads change it). */
  config: () => GatewayConfig;
  records: RecordStore;
  /** The storage driver actually in use ("memory": the software key is not written anywhere). */
  storageDriver: string;
  endpoints: readonly Endpoint[];
  admission: Admission;
  log: Logger;
  /** Tests: measure another code tree, find configfs elsewhere, keep the key elsewhere. */
  code?: { root: string; tree: CodeTree };
  detect?: DetectOptions;
  keyStore?: IdentityKeyStore;
}

export class AttestationService {
  private baseUrl: string | undefined;
  private tools: { hash: string; at: number } | undefined;
  private toolsPending: Promise<string> | undefined;
  private readonly publicKeyRaw: Buffer;
  private inFlight = 0;

  private constructor(
    private readonly deps: AttestationDeps,
    readonly detection: Detection,
    private readonly key: IdentityKey,
    readonly code: CodeMeasurement,
  ) {
    this.publicKeyRaw = rawPublicKey(key.publicKey);
  }

  static async create(deps: AttestationDeps): Promise<AttestationService> {
    const cfg = deps.config().attestation;
    const detection = detectProvider(cfg, deps.detect);
    const store = deps.keyStore ?? detection.provider?.identityKeyStore() ?? (deps.storageDriver === 'memory'
      ? new EphemeralIdentityKeyStore('software key generated in memory (storage.driver: memory); a restart gives a new key')
      : new VaultIdentityKeyStore(() => vaultFor(deps.config(), deps.records), deps.config().server.dataDir, () => {
        const provider = keyProviderFor({ dataDir: deps.config().server.dataDir, keyFile: deps.config().vault?.keyFile });
        if (provider instanceof KeyFileProvider && provider.init()) deps.log.info('vault: created its key file (mode 0600) for the attestation identity key');
      }));
    const key = await store.load();
    const where = deps.code ?? runningCode();
    const code = measureCode(where.root, where.tree);
    const service = new AttestationService(deps, detection, key, code);
    if (!code.lockfile) deps.log.warn({ root: where.root }, 'attestation: no package-lock.json beside the code: the measurement does not pin the dependencies');
    deps.log.info({ mode: detection.provider ? 'tee' : 'software', provider: detection.provider?.name ?? null, available: detection.available, code: code.sha256, codeTree: code.tree }, `attestation: ${detection.summary}`);
    return service;
  }

  get mode(): 'tee' | 'software' {
    return this.detection.provider ? 'tee' : 'software';
  }

  /** The identity public key, base64url of its 32 raw bytes. */
  get publicKey(): string {
    return this.publicKeyRaw.toString('base64url');
  }

  /** Set once the listener knows its address (or auth.publicUrl). */
  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/+$/, '');
  }

  get url(): string | undefined {
    return this.baseUrl === undefined ? undefined : this.baseUrl + ATTESTATION_PATH;
  }

  /** What `server/discover` carries in `_meta` under DISCOVER_META_KEY. */
  discoverMeta(): JsonObject | undefined {
    const url = this.url;
    return url === undefined ? undefined : { url, mode: this.mode };
  }

  async measurement(): Promise<Measurement> {
    const config = this.deps.config();
    const configHash = measureConfig(config);
    const pins = measurePins(await readAllPins(this.deps.records), Object.keys(config.upstreams));
    return { value: combine(this.code, configHash, pins), code: this.code, config: configHash, pins };
  }

  async toolsHash(): Promise<string> {
    if (this.tools && Date.now() - this.tools.at < TOOLS_TTL_MS) return this.tools.hash;
    this.toolsPending ??= servedTools(this.deps.endpoints, liveTools(this.deps.admission))
      .then((served) => {
        const hash = toolsHashOf(served);
        this.tools = { hash, at: Date.now() };
        return hash;
      })
      .finally(() => { this.toolsPending = undefined; });
    return this.toolsPending;
  }

  /** The signed document for one request: its nonce and the TLS key its connection was served with. */
  async document(nonce: string | null, spkiSha256: string | null): Promise<SignedDocument> {
    if (this.inFlight >= MAX_IN_FLIGHT) throw new AttestationBusyError('too many attestation documents requested at once; retry shortly');
    this.inFlight++;
    try {
      return await this.build(nonce, spkiSha256);
    } finally {
      this.inFlight--;
    }
  }

  private async build(nonce: string | null, spkiSha256: string | null): Promise<SignedDocument> {
    const [measurement, toolsHash] = await Promise.all([this.measurement(), this.toolsHash()]);
    const provider = this.detection.provider;
    const doc: AttestationDocument = {
      version: DOCUMENT_VERSION,
      mode: provider ? 'tee' : 'software',
      statement: (provider ? TEE_STATEMENT : SOFTWARE_STATEMENT) + (spkiSha256 === null ? ` ${PLAIN_HTTP_NOTE}` : ''),
      measurement: { value: measurement.value, code: measurement.code, config: measurement.config, pins: measurement.pins },
      identityKey: { alg: 'Ed25519', publicKey: this.publicKey, custody: this.key.custody },
      tls: spkiSha256 === null ? null : { spkiSha256 },
      toolsHash,
      nonce,
      timestamp: new Date().toISOString(),
      platform: { provider: provider?.name ?? null, available: this.detection.available, summary: this.detection.summary },
    };
    if (provider) {
      const reportData = reportDataFor({ identityKey: this.publicKeyRaw, spkiSha256, toolsHash, nonce, measurement: measurement.value });
      const q = await provider.quote(reportData);
      doc.quote = { format: q.format, data: q.quote.toString('base64'), reportData: reportData.toString('hex'), ...(q.eventLog !== undefined && { eventLog: q.eventLog }) };
    }
    return signDocument(doc, this.key.privateKey);
  }
}
