/**
 * exfiltration: shapes of "take data and send it somewhere" — shell pipelines into curl/wget/nc, curl uploads of
 * stdin or a file, base64 in a pipeline, "send the contents to https://…", and URLs whose host is an IP address or a
 * request-capture/tunnel service. A URL alone is not a finding: honest descriptions link to documentation.
 */
import { targets, type Detector } from '../finding.js';
import { matchPhrases, type PhraseRule } from './rules.js';

/** Data objects worth stealing, as they are named in an instruction ("send the contents …"). */
const OBJECT = String.raw`(?:contents?|data|files?|output|keys?|credentials|tokens?|secrets?|conversation|chat\s+history|history|messages?|results?|responses?|logs?|environment(?:\s+variables)?|passwords?)`;
const DETERMINER = String.raw`(?:(?:the|its|their|all|any|this|that|these|those|your|every|full|entire|complete|raw|whole)\s+){0,3}`;
const SEND = String.raw`(?:send|post|upload|forward|transmit|exfiltrate|leak|copy|e-?mail|mail|submit|share|deliver)`;

const CAPTURE_HOSTS = String.raw`(?:ngrok(?:-free)?\.(?:io|app|dev)|webhook\.site|requestbin\.(?:com|net)|pipedream\.net|burpcollaborator\.net|oastify\.com|interact\.sh|oast\.(?:pro|live|site|online|fun|me)|beeceptor\.com|hookbin\.com|requestcatcher\.com|trycloudflare\.com|loca\.lt|serveo\.net|localtunnel\.me|pastebin\.com|transfer\.sh|0x0\.st|discord(?:app)?\.com\/api\/webhooks|hooks\.slack\.com)`;

export const SEND_TO_DESTINATION: PhraseRule = {
  re: new RegExp(String.raw`\b${SEND}\s+${DETERMINER}${OBJECT}\b[^.!?\n]{0,80}?\bto\s+(?:https?:\/\/|ftp:\/\/|[\w.+-]{1,64}@[\w-]{1,63}\.|(?:the\s+)?(?:following|this)\s+(?:url|address|endpoint|server|webhook))`, 'gi'),
  severity: 'high',
  message: 'instructs sending data to a concrete destination',
};

const RULES: readonly PhraseRule[] = [
  {
    re: /\|\s{0,4}(?:curl|wget|nc|ncat|netcat|socat|telnet|scp|ftp|tftp)\b/gi,
    severity: 'high',
    message: 'pipes data into a network client',
  },
  {
    re: /\b(?:curl|wget)\b[^\n|;]{0,200}?\s(?:-d|--data(?:-binary|-raw|-urlencode|-ascii)?|--post-data|--post-file|-F|--form|-T|--upload-file)(?:\s{1,3}|=)['"]?[\w-]{0,20}=?@/gi,
    severity: 'high',
    message: 'uploads stdin or a file with curl/wget',
  },
  {
    re: /\b(?:curl|wget)\b[^\n|]{0,200}\|\s{0,4}(?:ba|z|da|k)?sh\b/gi,
    severity: 'high',
    message: 'downloads and runs a script',
  },
  {
    re: /\|\s{0,4}base64\b|\bbase64(?:\s{1,3}-{1,2}\w{1,12}){0,3}\s{0,4}\|/gi,
    severity: 'high',
    message: 'base64-encodes data in a shell pipeline',
  },
  SEND_TO_DESTINATION,
  {
    re: new RegExp(String.raw`\b${SEND}\s+${DETERMINER}${OBJECT}\b[^.!?\n]{0,80}?\bto\s+(?:an?\s+|the\s+|my\s+|our\s+)?(?:external|remote|third[-\s]party|attacker|outside)\b`, 'gi'),
    severity: 'medium',
    message: 'instructs sending data to an outside party',
  },
  {
    re: new RegExp(String.raw`\bhttps?:\/\/[^\s\/?#"'<>]{0,200}?${CAPTURE_HOSTS}`, 'gi'),
    severity: 'high',
    message: 'a URL on a request-capture or tunnelling service',
  },
  {
    re: /\b(?:https?|ftp):\/\/(?:[^\s/@"'<>]{1,256}@)?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/gi,
    severity: 'high',
    message: 'a URL whose host is a public IP address',
    accept: (url) => isPublicIpv4(url.replace(/^[a-z]+:\/\/(?:[^@]*@)?/i, '')),
  },
  {
    re: /\b[a-z2-7]{16,56}\.onion\b/gi,
    severity: 'high',
    message: 'a Tor hidden-service address',
  },
  {
    re: /\bbase64[\s-]?encode\s+(?:it|them|this|that|the|its|their|all|every)\b|\bencode\s+(?:it|them|this|that|(?:the|its|their)\s+\w{1,20})\s+(?:in|into|as|with|to|using)\s+base64\b/gi,
    severity: 'medium',
    message: 'asks the model to base64-encode data',
  },
];

/** Loopback, private, link-local and unspecified addresses are not destinations an attacker controls. */
function isPublicIpv4(host: string): boolean {
  const [a = 0, b = 0] = host.split('.').map(Number);
  if (a === 0 || a === 10 || a === 127 || a > 255) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

export const exfiltration: Detector = {
  id: 'exfiltration',
  severity: 'high',
  appliesTo: targets('definition'),
  summary: 'Exfiltration shapes: pipes into curl/wget/nc, curl uploads of stdin, base64 in a pipeline, "send the contents to <url>", URLs on public IPs, capture/tunnel services or .onion; base64-encoding requests (medium).',
  scan: (text, field) => matchPhrases('exfiltration', RULES, text, field),
};
