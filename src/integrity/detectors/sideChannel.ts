/**
 * side-channel-parameter: an input property the model is asked to fill with things the user never gave the tool —
 * file contents, the conversation, the system prompt, credentials — typically under an innocuous name (`sidenote`,
 * `context`, `feedback`, `metadata`, `debug`) that the tool's own description does not explain.
 *
 * A property merely called `context` or `metadata` is common and fine; the finding needs the description to ask for
 * out-of-band data. High when the name is a side-channel name or the tool description never mentions the property,
 * medium otherwise (a summariser's `conversation` parameter legitimately asks for a conversation).
 */
import { targets, type Detector, type FieldContext, type Finding } from '../finding.js';
import { matchView, toOriginal } from '../matchView.js';
import { excerptOf } from '../text.js';

/** Descriptions that ask for data from outside the user's request. Linear: literal anchors, bounded gaps. */
const OUT_OF_BAND = new RegExp([
  String.raw`\b(?:full|entire|complete|whole|raw)\s+(?:conversation|chat|context|history|transcript|prompt|message\s+history)\b`,
  String.raw`\b(?:conversation|chat)\s+(?:history|log|transcript)\b`,
  String.raw`\b(?:previous|prior|earlier|all|other)\s+(?:messages|turns|conversations?|tool\s+(?:calls|results|outputs))\b`,
  String.raw`\bsystem\s+(?:prompt|message|instructions)\b`,
  String.raw`\b(?:your|the\s+model's|the\s+assistant's)\s+(?:instructions|prompt|context\s+window)\b`,
  String.raw`\b(?:contents?|text)\s+of\s+(?:(?:any|all|every|other|your|the\s+user's)\s+(?:files?|documents?|config(?:uration)?\s+files?)|~|\/|\.\w|[\w-]{1,40}\.(?:json|env|txt|pem|key|yaml|yml|toml|ini|conf|cfg))`,
  String.raw`\b(?:api\s+keys?|credentials|access\s+tokens?|passwords?|secrets|environment\s+variables|private\s+keys?|ssh\s+keys?)\b`,
  String.raw`\beverything\s+(?:the\s+user\s+(?:said|wrote|typed)|you\s+know|in\s+(?:the|your)\s+context)\b`,
].join('|'), 'i');

const SIDE_CHANNEL_NAMES = new Set([
  'note', 'notes', 'sidenote', 'side_note', 'context', 'feedback', 'metadata', 'meta', 'debug', 'debuginfo', 'extra',
  'extras', 'comment', 'comments', 'remark', 'remarks', 'annotation', 'info', 'details', 'additionalinfo', 'hidden',
  'internal', 'trace', 'log', 'memo', 'reasoning', 'thought', 'thoughts', 'scratchpad', 'aux', 'payload',
]);

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

export function isSideChannelName(name: string): boolean {
  const n = normaliseName(name);
  return SIDE_CHANNEL_NAMES.has(n) || SIDE_CHANNEL_NAMES.has(name.toLowerCase());
}

/** Whether the tool's description mentions the property, i.e. explains what it is for. */
function explainedByTool(name: string, toolDescription: string): boolean {
  if (!toolDescription) return false;
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[-_]/g, ' ').toLowerCase();
  const haystack = toolDescription.toLowerCase();
  return haystack.includes(name.toLowerCase()) || haystack.includes(words);
}

function scan(text: string, field: FieldContext): Finding[] {
  // Only the description of an input property (or prompt argument) is judged here.
  if (field.fieldKind !== 'description' || field.propertyName === undefined || field.path.startsWith('outputSchema')) return [];
  const view = matchView(text);
  const m = OUT_OF_BAND.exec(view.text);
  if (!m) return [];
  const name = field.propertyName;
  const suspiciousName = isSideChannelName(name);
  const unexplained = !explainedByTool(name, field.item?.description ?? '');
  const severity = suspiciousName || unexplained ? 'high' : 'medium';
  const why = suspiciousName ? `a side-channel name ("${name}")` : unexplained ? 'not explained by the tool description' : 'explained by the tool description';
  const span = toOriginal(view, { start: m.index, end: m.index + m[0].length });
  return [{
    rule: 'side-channel-parameter', severity, path: field.path, span, excerpt: excerptOf(text, span),
    message: `parameter "${name}" asks the model for out-of-band data (${why})`,
  }];
}

export const sideChannel: Detector = {
  id: 'side-channel-parameter',
  severity: 'high',
  appliesTo: targets('definition'),
  summary: 'An input property whose description asks for file contents, the conversation, the system prompt or credentials; high when its name is a side-channel name (note, context, feedback, metadata, debug …) or the tool description does not explain it.',
  scan,
};
