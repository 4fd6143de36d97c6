/**
 * A source of hardware quotes. Two ship (configfs-tsm, dstack); another TEE needs only this interface. A provider
 * never simulates: it returns a quote the hardware signed, or throws.
 */
import type { IdentityKeyStore } from '../identityKey.js';

export type QuoteFormat = 'tdx' | 'sev-snp';

export interface HardwareQuote {
  format: QuoteFormat;
  /** The quote (TDX: a DCAP quote v4/v5; SEV-SNP: the attestation report followed by nothing else). */
  quote: Buffer;
  /** What the platform logged into its runtime measurement registers (dstack), when it offers it. */
  eventLog?: string;
}

export interface QuoteProvider {
  readonly name: string;
  /** Asks the hardware for a quote over these 64 bytes of report_data. */
  quote(reportData: Buffer): Promise<HardwareQuote>;
  /** Where the identity key comes from inside this TEE. */
  identityKeyStore(): IdentityKeyStore;
}

export const REPORT_DATA_BYTES = 64;
