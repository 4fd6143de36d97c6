/**
 * Personal-data detectors for results and outbound arguments: payment card numbers (issuer prefix + Luhn), IBANs
 * (country length + mod-97), e-mail addresses and phone numbers. Checksums keep the number-shaped detectors from
 * firing on every long digit string (timestamps, ids); e-mail and phone are low severity because honest results
 * are full of them — they are there to be switched on (and redacted) where a deployment needs it.
 */
import { targets, type Detector, type FieldContext, type Finding, type Severity, type Span } from '../finding.js';
import { maskedExcerpt } from '../text.js';

const CONTENT = targets('result', 'argument');

function piiDetector(id: string, severity: Severity, summary: string, message: string, find: (text: string) => Span[]): Detector {
  return {
    id, severity, appliesTo: CONTENT, summary,
    scan: (text: string, field: FieldContext): Finding[] => find(text).map((span) => ({
      rule: id, severity, message, path: field.path, span, excerpt: maskedExcerpt(text, span, 2),
    })),
  };
}

function spansOf(re: RegExp, text: string, accept: (match: string) => boolean): Span[] {
  const spans: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) if (accept(m[0])) spans.push({ start: m.index, end: m.index + m[0].length });
  return spans;
}

/** 13–19 digits, optionally in groups split by single spaces or dashes; never starting inside a longer number. */
const CARD = /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-])/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Issuer prefixes of the major networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro). */
const CARD_PREFIX = /^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|2)|35(?:2[89]|[3-8])|3(?:0[0-5]|[689])|5[06-9])/;

function isCardNumber(match: string): boolean {
  const separators = match.replace(/\d/g, '');
  if (separators && !/^(?: +|-+)$/.test(separators)) return false; // mixed separators: not how cards are written
  const digits = match.replace(/\D/g, '');
  if (digits.length < 13 || /^(\d)\1+$/.test(digits)) return false;
  return CARD_PREFIX.test(digits) && luhnValid(digits);
}

const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g;

/** IBAN lengths by country (ISO 13616 registry). */
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28,
  CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18,
  GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32,
  LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24,
  PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28,
  TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

export function ibanValid(candidate: string): boolean {
  const iban = candidate.replace(/ /g, '');
  if (IBAN_LENGTH[iban.slice(0, 2)] !== iban.length) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = (value >= 10 ? remainder * 100 + value : remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

/** Local part starts only where no local-part character precedes it, so a long run is not rescanned per offset. */
const EMAIL = /(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,24}(?![\w-])/g;

const PHONE_INTERNATIONAL = /(?<![\w+])\+[1-9](?:[ .-]?\d){7,14}(?![\d])|(?<![\w+])\+\d{1,3}[ .-]?\(\d{1,4}\)[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,3}(?!\d)/g;
const PHONE_NORTH_AMERICA = /(?<![\w.-])(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w.-])/g;

function phoneSpans(text: string): Span[] {
  const digitCount = (s: string) => s.replace(/\D/g, '').length;
  return [
    ...spansOf(PHONE_INTERNATIONAL, text, (m) => digitCount(m) >= 8 && digitCount(m) <= 15),
    ...spansOf(PHONE_NORTH_AMERICA, text, () => true),
  ].sort((a, b) => a.start - b.start);
}

export const PERSONAL_DATA_DETECTORS: readonly Detector[] = [
  piiDetector('payment-card', 'high', 'Payment card numbers: 13–19 digits (optionally grouped), a known issuer prefix and a valid Luhn checksum.',
    'a payment card number', (t) => spansOf(CARD, t, isCardNumber)),
  piiDetector('iban', 'medium', 'IBANs with the right length for their country and a valid mod-97 checksum.',
    'an IBAN', (t) => spansOf(IBAN, t, ibanValid)),
  piiDetector('email-address', 'low', 'E-mail addresses.',
    'an e-mail address', (t) => (t.includes('@') ? spansOf(EMAIL, t, () => true) : [])),
  piiDetector('phone-number', 'low', 'Phone numbers: E.164 (+ and 8–15 digits, optionally grouped) and North-American formats.',
    'a phone number', phoneSpans),
];
