/**
 * hidden-characters: characters a reviewer cannot see but the model reads. Unicode tag characters spell out a whole
 * hidden message (decoded into the finding); runs of variation selectors can carry bytes; bidi controls reorder what
 * the reviewer sees; ANSI escapes can hide or repaint text in a terminal; zero-width characters split words so that
 * filters miss them. In a definition none of these has an honest use; in results some do (coloured CLI output,
 * joiners in emoji and non-Latin scripts), hence lower severities there.
 */
import { targets, type Detector, type FieldContext, type Finding, type Severity, type Target } from '../finding.js';
import { escapeForReview, excerptOf, findHidden, type HiddenClass } from '../text.js';

const SEVERITY: Record<HiddenClass, Record<Target, Severity>> = {
  'tag': { definition: 'critical', result: 'high', argument: 'high' },
  'variation-selector': { definition: 'high', result: 'high', argument: 'medium' },
  'bidi-control': { definition: 'high', result: 'medium', argument: 'medium' },
  'ansi': { definition: 'high', result: 'low', argument: 'low' },
  'zero-width': { definition: 'medium', result: 'low', argument: 'low' },
  'control': { definition: 'medium', result: 'low', argument: 'low' },
  'invisible': { definition: 'medium', result: 'low', argument: 'low' },
  'bidi-mark': { definition: 'low', result: 'low', argument: 'low' },
};

const DESCRIPTION: Record<HiddenClass, string> = {
  'tag': 'Unicode tag characters (invisible text)',
  'variation-selector': 'a run of variation selectors (can encode hidden bytes)',
  'bidi-control': 'bidirectional control characters (reorder displayed text)',
  'ansi': 'ANSI terminal escape sequences',
  'zero-width': 'zero-width characters',
  'control': 'control characters',
  'invisible': 'invisible filler characters',
  'bidi-mark': 'bidirectional marks among Latin text',
};

const DECODED_MAX = 400;

function scan(text: string, field: FieldContext): Finding[] {
  return findHidden(text).map((run) => {
    const span = { start: run.start, end: run.end };
    const hidden = run.decoded ? `: "${escapeForReview(run.decoded.slice(0, DECODED_MAX), { singleLine: true })}"` : '';
    return {
      rule: 'hidden-characters', severity: SEVERITY[run.hidden][field.target], path: field.path, span,
      excerpt: excerptOf(text, span), message: `${DESCRIPTION[run.hidden]}${hidden}`,
    };
  });
}

export const hiddenCharacters: Detector = {
  id: 'hidden-characters',
  severity: 'critical',
  appliesTo: targets('definition', 'result', 'argument'),
  summary: 'Invisible or deceptive characters: Unicode tags (decoded), variation-selector runs, bidi controls, ANSI escapes, zero-width, control and filler characters; graded by class and by where they appear.',
  scan,
};
