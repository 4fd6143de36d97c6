/**
 * sensitive-reference: a definition that names secrets or the files that hold them. A tool that adds two numbers has
 * no reason to mention `~/.ssh/id_rsa`, `~/.aws/credentials` or another client's `mcp.json`; concrete paths are high,
 * bare words ("credentials", "API key") are medium because honest tools mention them too.
 */
import { targets, type Detector } from '../finding.js';
import { matchPhrases, type PhraseRule } from './rules.js';

const RULES: readonly PhraseRule[] = [
  {
    re: /(?<![\w-])\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?\b|\bauthorized_keys\b/gi,
    severity: 'high',
    message: 'refers to SSH keys',
  },
  {
    re: /(?<![\w-])\.aws[/\\](?:credentials|config)\b|\baws_secret_access_key\b/gi,
    severity: 'high',
    message: 'refers to AWS credentials',
  },
  {
    re: /\/etc\/(?:passwd|shadow|gshadow|sudoers)\b|\/proc\/self\/environ\b/gi,
    severity: 'high',
    message: 'refers to system account or process secrets',
  },
  {
    re: /(?<![\w-])(?:mcp|mcp_config|mcp_settings|cline_mcp_settings|claude_desktop_config)\.json\b/gi,
    severity: 'high',
    message: "refers to an MCP client's configuration (which holds other servers' credentials)",
  },
  {
    re: /(?<![\w-])\.(?:netrc|npmrc|pypirc|git-credentials|pgpass|my\.cnf|bash_history|zsh_history|gnupg|docker[/\\]config\.json|kube[/\\]config)\b|\bwallet\.dat\b/gi,
    severity: 'high',
    message: 'refers to a file that holds credentials',
  },
  {
    re: /(?<![\w./-])\.env(?:\.[\w-]{1,20})?\b(?![\w(])/gi,
    severity: 'medium',
    message: 'refers to a .env file',
  },
  {
    re: /\b(?:api[\s_-]?keys?|secret[\s_-]?keys?|private[\s_-]?keys?|access[\s_-]?tokens?|auth(?:entication)?[\s_-]?tokens?|bearer\s+tokens?|credentials?|passwords?|passphrases?|seed\s+phrases?|mnemonic\s+phrases?|secrets)\b/gi,
    severity: 'medium',
    message: 'mentions secrets or credentials',
  },
];

export const sensitiveReferences: Detector = {
  id: 'sensitive-reference',
  severity: 'high',
  appliesTo: targets('definition'),
  summary: 'Names of secrets and the files holding them (~/.ssh, id_rsa, ~/.aws/credentials, /etc/passwd, mcp.json, .netrc …: high; .env and words like "credentials", "API key": medium).',
  scan: (text, field) => matchPhrases('sensitive-reference', RULES, text, field),
};
