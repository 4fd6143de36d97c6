/**
 * Secret detectors for results and outbound arguments (and defaults/examples inside definitions): one detector per
 * kind of secret, so each can be switched off on its own. Each expression is anchored on a literal that real secrets
 * carry (`-----BEGIN`, `AKIA`, `ghp_`, `eyJ` …), which also makes it its own cheap prefilter; excerpts are masked so
 * a finding never repeats the secret it found.
 */
import { targets, type Detector, type FieldContext, type Finding, type Severity, type Span } from '../finding.js';
import { maskedExcerpt } from '../text.js';

const ALL_TARGETS = targets('definition', 'result', 'argument');

interface SecretSpec {
  id: string;
  severity: Severity;
  summary: string;
  message: string;
  find(text: string): Span[];
}

function secretDetector(spec: SecretSpec): Detector {
  return {
    id: spec.id,
    severity: spec.severity,
    appliesTo: ALL_TARGETS,
    summary: spec.summary,
    scan: (text: string, field: FieldContext): Finding[] => spec.find(text).map((span) => ({
      rule: spec.id, severity: spec.severity, message: spec.message, path: field.path, span, excerpt: maskedExcerpt(text, span),
    })),
  };
}

/** Spans of every match of a global expression, optionally narrowed to one part of the match. */
function spansOf(re: RegExp, text: string, narrow?: (m: RegExpExecArray) => Span | undefined): Span[] {
  const spans: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const span = narrow ? narrow(m) : { start: m.index, end: m.index + m[0].length };
    if (span) spans.push(span);
  }
  return spans;
}

const PEM_BEGIN = /-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP|SSH2) )?PRIVATE KEY(?: BLOCK)?-----/g;
/** A key body: base64, whitespace and the `\n` escapes of a key pasted into JSON. */
const PEM_BODY = /[A-Za-z0-9+/=\s\\:,-]*/y;
const PEM_MAX = 32768;

function privateKeySpans(text: string): Span[] {
  if (!text.includes('-----BEGIN')) return [];
  const spans: Span[] = [];
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m; m = PEM_BEGIN.exec(text)) {
    const start = m.index;
    const endMarker = text.indexOf('-----END', start + m[0].length);
    let end: number;
    if (endMarker !== -1 && endMarker - start < PEM_MAX) {
      const close = text.indexOf('-----', endMarker + 8);
      end = close !== -1 && close - endMarker < 64 ? close + 5 : endMarker + 8;
    } else {
      // A truncated key: redact the body that follows the header, so no half of it is left visible.
      PEM_BODY.lastIndex = start + m[0].length;
      PEM_BODY.exec(text);
      end = Math.min(PEM_BODY.lastIndex, start + PEM_MAX);
    }
    spans.push({ start, end });
    PEM_BEGIN.lastIndex = end;
  }
  return spans;
}

const AWS_ACCESS_KEY = /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g;
const AWS_SECRET_KEY = /(?:aws_?secret_?access_?key|secret_?access_?key|aws_?secret_?key)["']?\s{0,3}[:=]>?\s{0,3}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
const GCP_PRIVATE_KEY = /"private_key"\s{0,3}:\s{0,3}"(?=-----BEGIN)/g;
const GITHUB_TOKEN = /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])/g;
const SLACK_TOKEN = /(?<![\w-])xox[abposre]-[A-Za-z0-9-]{10,250}|\bhooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,32}/g;
const STRIPE_KEY = /(?<![\w])(?:sk|rk)_live_[A-Za-z0-9]{16,247}/g;
/** Anchored at the start of a base64url run (the look-behind), so a long run is scanned once, not from every offset. */
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const AUTH_HEADER = /\bauthorization["']?\s{0,3}[:=]\s{0,3}["']?(?:bearer|basic|token|bot|digest)\s{1,3}([A-Za-z0-9._~+/=-]{8,4096})/gi;
const URL_PASSWORD = /:\/\/([^\s/?#@:"'<>]{1,256}):([^\s/?#@"'<>]{1,256})@(?=[^\s/?#"'<>@])/g;
const PLACEHOLDER = /^(?:\*+|x+|\.+|password|passwd|pass|pwd|secret|changeme|\$\{?[\w.-]*\}?|<[^>]*>|\{\{?[^}]*\}\}?|%[^%]*%|\w*(?:PASSWORD|PASS|PWD)\w*)$/i;

/** The end of a JSON string value starting at `from` (just after its opening quote), honouring escapes. */
function jsonStringEnd(text: string, from: number): number {
  const limit = Math.min(text.length, from + PEM_MAX);
  for (let i = from; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return limit;
}

function isJwt(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** The last `length` characters of a match: the captured secret when it closes the expression. */
const tail = (m: RegExpExecArray, length: number): Span => ({ start: m.index + m[0].length - length, end: m.index + m[0].length });

export const SECRET_DETECTORS: readonly Detector[] = [
  secretDetector({
    id: 'private-key', severity: 'critical', message: 'a PEM private key',
    summary: 'PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), the whole block.',
    find: privateKeySpans,
  }),
  secretDetector({
    id: 'aws-access-key', severity: 'high', message: 'an AWS access key id',
    summary: 'AWS access key ids (AKIA…, ASIA… and the other documented prefixes, 20 characters).',
    find: (t) => spansOf(AWS_ACCESS_KEY, t),
  }),
  secretDetector({
    id: 'aws-secret-key', severity: 'critical', message: 'an AWS secret access key',
    summary: 'AWS secret access keys: 40 base64 characters assigned to a key named like aws_secret_access_key / SecretAccessKey.',
    find: (t) => spansOf(AWS_SECRET_KEY, t, (m) => tail(m, m[1]!.length)),
  }),
  secretDetector({
    id: 'gcp-service-account-key', severity: 'critical', message: 'a Google service-account private key',
    summary: 'The private_key of a Google service-account JSON key file.',
    find: (t) => t.includes('"private_key"') ? spansOf(GCP_PRIVATE_KEY, t, (m) => {
      const start = m.index + m[0].length;
      return { start, end: jsonStringEnd(t, start) };
    }) : [],
  }),
  secretDetector({
    id: 'github-token', severity: 'high', message: 'a GitHub token',
    summary: 'GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ and fine-grained github_pat_.',
    find: (t) => spansOf(GITHUB_TOKEN, t),
  }),
  secretDetector({
    id: 'slack-token', severity: 'high', message: 'a Slack token or webhook',
    summary: 'Slack tokens (xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-, xoxe-) and incoming-webhook URLs.',
    find: (t) => spansOf(SLACK_TOKEN, t),
  }),
  secretDetector({
    id: 'stripe-live-key', severity: 'high', message: 'a Stripe live secret key',
    summary: 'Stripe live secret and restricted keys (sk_live_, rk_live_).',
    find: (t) => spansOf(STRIPE_KEY, t),
  }),
  secretDetector({
    id: 'jwt', severity: 'high', message: 'a JSON Web Token',
    summary: 'JSON Web Tokens: three base64url parts whose header decodes to JSON with an "alg".',
    find: (t) => t.includes('eyJ') ? spansOf(JWT, t, (m) => (isJwt(m[0]) ? { start: m.index, end: m.index + m[0].length } : undefined)) : [],
  }),
  secretDetector({
    id: 'authorization-header', severity: 'high', message: 'an Authorization header credential',
    summary: 'The credential of an Authorization header (Bearer, Basic, Token, Bot, Digest); the scheme name stays visible.',
    find: (t) => spansOf(AUTH_HEADER, t, (m) => tail(m, m[1]!.length)),
  }),
  secretDetector({
    id: 'url-password', severity: 'high', message: 'a password in a URL',
    summary: 'Passwords in URLs (scheme://user:password@host), the password only; placeholders like ${PASSWORD} or **** are ignored.',
    find: (t) => t.includes('://') ? spansOf(URL_PASSWORD, t, (m) => {
      if (PLACEHOLDER.test(m[2]!)) return undefined;
      const end = m.index + m[0].length - 1;
      return { start: end - m[2]!.length, end };
    }) : [],
  }),
];
