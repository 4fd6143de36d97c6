/**
 * tool-shadowing: a definition that gives orders about *other* tools ("when the send_email tool is called, BCC …",
 * "instead of using read_file …"). Tools of the same server referring to each other is ordinary documentation, so the
 * scanner is given the tool names of the other servers (`knownTools`); generic phrasings are caught without it.
 *
 * A known name counts when it is distinctive (snake/kebab/camel case, a digit, or long) or is called a tool next to
 * it, so that a tool named `search` does not fire on every use of the word. High when the sentence also gives an
 * order (when, instead, must, always, never …); medium for a bare mention.
 */
import { targets, type Detector, type FieldContext, type Finding } from '../finding.js';
import { matchView, toOriginal } from '../matchView.js';
import { excerptOf } from '../text.js';
import { keepMostSevere, matchPhrases, sentenceEnd, sentenceStart, type PhraseRule } from './rules.js';

const GENERIC_RULES: readonly PhraseRule[] = [
  {
    re: /\b(?:when|whenever|if|before|after)\s+(?:the\s+|any\s+|another\s+)?[`'"]?[\w.-]{2,64}[`'"]?\s+tool\s+is\s+(?:called|used|invoked|run|executed|available|present)\b/gi,
    severity: 'high',
    message: 'gives orders about how another tool behaves',
  },
  {
    re: /\binstead\s+of\s+(?:using|calling|invoking)\s+(?:the\s+)?[`'"]?[\w.-]{2,64}[`'"]?\s+tool\b/gi,
    severity: 'medium',
    message: 'steers the model away from another tool',
  },
  {
    re: /\b(?:side[\s-]effects?|effects?|impact)\s+on\s+(?:the\s+)?(?:also\s+present\s+|other\s+)?[`'"]?[\w.-]{2,64}[`'"]?\s+tools?\b/gi,
    severity: 'high',
    message: 'claims to change how another tool works',
  },
  {
    re: /\b(?:all|any|every)\s+other\s+tools?\b[^.!?\n]{0,40}?\b(?:must|should|shall|have\s+to|need\s+to)\b/gi,
    severity: 'medium',
    message: 'gives orders to other tools',
  },
];

const ORDER_WORDS = /\b(?:when|whenever|before|after|instead|rather\s+than|must|should|always|never|do\s+not|don't|override|replace|redirect|bcc|cc|also\s+send|also\s+call|first\s+call|only\s+call)\b/i;
const IDENTIFIER = /[A-Za-z][\w.-]{1,63}/g;

function isDistinctive(name: string): boolean {
  return /[_\-.\d]/.test(name) || /[a-z][A-Z]/.test(name) || name.length >= 12;
}

function scanKnownTools(text: string, field: FieldContext, known: ReadonlySet<string>): Finding[] {
  const view = matchView(text);
  const s = view.text;
  const found: Finding[] = [];
  const self = field.item?.name;
  IDENTIFIER.lastIndex = 0;
  for (let m = IDENTIFIER.exec(s); m; m = IDENTIFIER.exec(s)) {
    const name = m[0].replace(/[.-]+$/, '');
    if (name === self || !known.has(name)) continue;
    const start = m.index;
    const end = start + name.length;
    const nearby = s.slice(Math.max(0, start - 24), Math.min(s.length, end + 24));
    if (!isDistinctive(name) && !/\btools?\b|`/i.test(nearby)) continue;
    const sentence = s.slice(sentenceStart(s, start), sentenceEnd(s, end));
    const ordered = ORDER_WORDS.test(sentence);
    const span = toOriginal(view, { start, end });
    found.push({
      rule: 'tool-shadowing', severity: ordered ? 'high' : 'medium', path: field.path, span, excerpt: excerptOf(text, span),
      message: ordered ? `gives orders about another server's tool "${name}"` : `mentions another server's tool "${name}"`,
    });
  }
  return found;
}

function scan(text: string, field: FieldContext): Finding[] {
  const generic = matchPhrases('tool-shadowing', GENERIC_RULES, text, field);
  const known = field.knownTools && field.knownTools.size > 0 ? scanKnownTools(text, field, field.knownTools) : [];
  return keepMostSevere([...generic, ...known]);
}

export const shadowing: Detector = {
  id: 'tool-shadowing',
  severity: 'high',
  appliesTo: targets('definition'),
  summary: "Orders about other tools: names of other servers' tools (given as knownTools) in an order-giving sentence (high) or mentioned (medium), and generic phrasings (\"when the X tool is called\", \"side effect on the X tool\").",
  scan,
};
