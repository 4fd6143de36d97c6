/**
 * hidden-instructions: a definition that gives the model orders instead of describing the tool — "ignore previous
 * instructions", "do not tell the user", `<IMPORTANT>` blocks, "before using this tool you must read …", and the
 * rug-pull triggers that only make sense after approval ("now that this tool is trusted").
 */
import { targets, type Detector } from '../finding.js';
import { ADDRESS_MODEL_RULES, CONCEAL_RULES, MARKER_RULES, OVERRIDE_RULES } from './phrases.js';
import { matchPhrases, type PhraseRule } from './rules.js';

const PRECONDITION_RULES: readonly PhraseRule[] = [
  {
    re: /\bbefore\s+(?:using|calling|invoking|running|executing|you\s+use|you\s+call)\s+(?:this|the|any)\s+(?:tool|function|server)\b[^.!?\n]{0,80}?\b(?:read|cat|open|load|fetch|access|pass|send|include|attach|upload|copy|provide|run|execute)\b/gi,
    severity: 'high',
    message: 'makes the model perform a step (read, send, run …) before the tool may be used',
  },
  {
    re: /\bbefore\s+(?:using|calling|invoking|running|executing|you\s+use|you\s+call)\s+(?:this|the|any)\s+(?:tool|function|server)\b[^.!?\n]{0,20}?\b(?:must|need\s+to|have\s+to|are\s+required\s+to|first)\b/gi,
    severity: 'medium',
    message: 'imposes a precondition on the model before the tool may be used',
  },
  {
    re: /\botherwise\s+(?:this|the)\s+(?:tool|function|server)\s+(?:will|would|may|might)\s+(?:not|fail|break|stop)\b/gi,
    severity: 'medium',
    message: 'threatens failure to make the model comply',
  },
  {
    re: /\b(?:required|mandatory|necessary|compulsory)\s+(?:initiali[sz]ation|init|setup|set-up|bootstrap|pre-?flight|preliminary|prerequisite)\s+(?:step|routine|command|action)\b/gi,
    severity: 'medium',
    message: 'invents a mandatory set-up step for the model to run',
  },
];

const RUG_PULL_RULES: readonly PhraseRule[] = [
  {
    re: /\bnow\s+that\s+(?:this\s+tool|the\s+tool|this\s+server|it|you)\s+(?:is|are|has\s+been|have\s+been)\s+(?:trusted|approved|installed|whitelisted|allowlisted|enabled)\b/gi,
    severity: 'high',
    message: 'behaviour gated on having been approved (rug-pull trigger)',
  },
  {
    re: /\b(?:after|once|when)\s+(?:the\s+)?user\s+(?:has\s+)?(?:approves?|approved|trusts?|trusted|allows?|allowed|accepts?|accepted)\s+(?:this|the)\s+(?:tool|server)\b/gi,
    severity: 'high',
    message: 'behaviour gated on the user approving the tool (rug-pull trigger)',
  },
  {
    re: /\b(?:rewrite|modify|change|update|edit|replace)\s+(?:this\s+(?:tool'?s?\s+)?|its\s+own\s+|your\s+own\s+)(?:description|docstring|definition|instructions)\b/gi,
    severity: 'high',
    message: 'a definition that plans to rewrite itself',
  },
  {
    re: /\bon\s+(?:subsequent|later|future|every\s+subsequent|the\s+next)\s+(?:runs?|calls?|invocations?|uses?|sessions?)\b/gi,
    severity: 'medium',
    message: 'behaviour that changes on later calls',
  },
  {
    re: /(?:^|[.!?]\s)\s{0,3}(?:once|after|when)\s+(?:being\s+)?(?:approved|trusted),/gi,
    severity: 'medium',
    message: 'behaviour gated on approval',
  },
];

const PRESSURE_RULES: readonly PhraseRule[] = [
  {
    re: /\b(?:very|extremely|really|super|critically|vitally|very\s+very)\s+important\b/gi,
    severity: 'medium',
    message: 'urgency aimed at the model',
  },
  {
    re: /\b(?:always|must)\s+(?:use|call|invoke|run)\s+this\s+tool\s+(?:first|before|instead)\b/gi,
    severity: 'medium',
    message: 'pushes the model to prefer this tool over others',
  },
];

const RULES: readonly PhraseRule[] = [
  ...OVERRIDE_RULES, ...CONCEAL_RULES, ...MARKER_RULES, ...ADDRESS_MODEL_RULES,
  ...PRECONDITION_RULES, ...RUG_PULL_RULES, ...PRESSURE_RULES,
];

export const hiddenInstructions: Detector = {
  id: 'hidden-instructions',
  severity: 'high',
  appliesTo: targets('definition'),
  summary: 'Orders aimed at the model inside a definition: override phrases, concealment from the user, <IMPORTANT>/<SYSTEM> markers, forced preconditions, approval-gated (rug-pull) behaviour, urgency.',
  scan: (text, field) => matchPhrases('hidden-instructions', RULES, text, field),
};
