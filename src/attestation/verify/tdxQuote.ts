/**
 * Checks of an Intel TDX quote, with `@phala/dcap-qvl` (Phala's maintained pure-JS port of Intel's DCAP quote
 * verification library) for the cryptography: the PCK certificate chain to Intel's root CA, the CRLs, the QE report
 * and quote signatures, and the TCB level from signed collateral at the given time. On top of it, each as its own
 * check: the TCB status against what the verifier accepts, debug mode, the expected MRTD and RTMRs, and report_data.
 */
import { Quote, getCollateral, getCollateralFromPcs, verify, type Collateral, type TDReport10 } from '@phala/dcap-qvl';
import { fail, pass, skip, type Check } from './checks.js';

export type { Collateral };

const TEE_TYPE_TDX = 0x81;
export const REGISTERS = ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const;
export type Register = typeof REGISTERS[number];

export interface TdxExpectations {
  /** Hex, 48 bytes each; a register without an expected value is reported, not checked. */
  registers?: Partial<Record<Register, string>>;
  /** The 64 bytes report_data must hold; undefined: not checked. */
  reportData?: Buffer;
  /** TCB statuses accepted (default: UpToDate). Revoked never is. */
  acceptTcbStatus?: readonly string[];
}

export interface TdxVerifyOptions {
  /** Collateral (PCK CRLs, TCB info, QE identity) as `getCollateral` returns it; fetched when absent. */
  collateral?: Collateral;
  /** A PCCS to fetch collateral from (default: Intel's PCS). */
  pccsUrl?: string;
  /** The time the quote and collateral are judged at (default: now). */
  now?: Date;
  expect: TdxExpectations;
}

export interface TdxReport {
  registers: Record<Register, string>;
  reportData: string;
  tdAttributes: string;
  tcbStatus?: string;
  advisoryIds?: string[];
}

export async function verifyTdxQuote(quote: Buffer, opts: TdxVerifyOptions): Promise<{ checks: Check[]; report?: TdxReport }> {
  const checks: Check[] = [];
  let td: TDReport10;
  try {
    const parsed = Quote.parse(quote);
    if (parsed.header.teeType !== TEE_TYPE_TDX) throw new Error(`not a TDX quote (TEE type 0x${parsed.header.teeType.toString(16)})`);
    const r = parsed.report.asTd10() ?? parsed.report.asTd15()?.base;
    if (!r) throw new Error('the quote carries no TD report');
    td = r;
    checks.push(pass('quote.parse', `TDX quote v${parsed.header.version}, ${quote.length} bytes`));
  } catch (e) {
    checks.push(fail('quote.parse', `cannot parse the quote: ${(e as Error).message}`));
    return { checks };
  }
  const report: TdxReport = {
    registers: { mrtd: hex(td.mrTd), rtmr0: hex(td.rtMr0), rtmr1: hex(td.rtMr1), rtmr2: hex(td.rtMr2), rtmr3: hex(td.rtMr3) },
    reportData: hex(td.reportData),
    tdAttributes: hex(td.tdAttributes),
  };

  const now = opts.now ?? new Date();
  let collateral = opts.collateral;
  if (!collateral) {
    try {
      collateral = opts.pccsUrl ? await getCollateral(opts.pccsUrl, quote) : await getCollateralFromPcs(quote);
    } catch (e) {
      checks.push(fail('quote.collateral', `cannot fetch collateral${opts.pccsUrl ? ` from ${opts.pccsUrl}` : " from Intel's PCS"}: ${(e as Error).message}`));
    }
  }
  if (collateral) {
    try {
      const v = verify(quote, collateral, Math.floor(now.getTime() / 1000));
      report.tcbStatus = v.status;
      report.advisoryIds = v.advisory_ids;
      checks.push(pass('quote.signature', `signature chain to Intel's root CA, CRLs, QE identity and collateral valid at ${now.toISOString()}`));
      const accepted = opts.expect.acceptTcbStatus ?? ['UpToDate'];
      const advisories = v.advisory_ids.length ? ` (advisories: ${v.advisory_ids.join(', ')})` : '';
      if (v.status !== 'Revoked' && accepted.includes(v.status)) checks.push(pass('quote.tcb-status', `${v.status}${advisories}`));
      else checks.push(fail('quote.tcb-status', `${v.status}${advisories}; accepted: ${accepted.join(', ')}`));
    } catch (e) {
      checks.push(fail('quote.signature', `the quote does not verify at ${now.toISOString()}: ${(e as Error).message}`));
    }
  }

  // TUD (byte 0 of TDATTRIBUTES): any bit set means the TD is debuggable, i.e. its memory is readable by the host.
  checks.push(td.tdAttributes[0] === 0 ? pass('quote.debug', 'not a debug TD') : fail('quote.debug', `debug TD (TDATTRIBUTES ${report.tdAttributes}): its memory is open to the host`));

  for (const reg of REGISTERS) {
    const want = opts.expect.registers?.[reg]?.toLowerCase();
    const got = report.registers[reg];
    if (want === undefined) checks.push(skip(`quote.${reg}`, `${got} (no expected value given)`));
    else if (want === got) checks.push(pass(`quote.${reg}`, `${got} as expected`));
    else checks.push(fail(`quote.${reg}`, `${got}, expected ${want}`));
  }

  const wantRd = opts.expect.reportData;
  if (wantRd === undefined) checks.push(skip('quote.report-data', `${report.reportData} (no binding to check)`));
  else if (wantRd.equals(Buffer.from(td.reportData))) checks.push(pass('quote.report-data', 'binds the identity key, TLS key, tools, measurement and nonce'));
  else checks.push(fail('quote.report-data', `${report.reportData}, expected ${wantRd.toString('hex')}: the quote was not made for this document`));
  return { checks, report };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
