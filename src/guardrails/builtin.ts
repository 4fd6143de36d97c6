/**
 * The built-in content guardrail: the integrity scanner's content detectors (secrets, personal data, prompt
 * injection) with each finding given the action its category is configured to get, per direction.
 */
import { createScanner } from '../integrity/scanner.js';
import { CONTENT_DETECTORS, PERSONAL_DATA_DETECTORS, SECRET_DETECTORS, promptInjection } from '../integrity/detectors/index.js';
import type { Direction, FindingCategory, Guardrail, GuardrailAction, GuardrailFinding, GuardrailInput } from './guardrail.js';
import type { ContentSettings } from './settings.js';

export const BUILTIN_GUARDRAIL = 'portcullis';

const CATEGORY = new Map<string, FindingCategory>([
  ...SECRET_DETECTORS.map((d) => [d.id, 'secret'] as const),
  ...PERSONAL_DATA_DETECTORS.map((d) => [d.id, 'personal-data'] as const),
  [promptInjection.id, 'injection'],
]);

type Actions = Partial<Record<FindingCategory, GuardrailAction>>;

function actionsFor(settings: ContentSettings, direction: Direction): Actions {
  const on = <A extends string>(a: A): GuardrailAction | undefined => (a === 'off' ? undefined : (a as unknown as GuardrailAction));
  // A server's request puts its text in front of the client's model or user as a result does: the same settings.
  if (direction === 'result' || direction === 'server-request') {
    return { secret: on(settings.results.secrets), 'personal-data': on(settings.results.personalData), injection: on(settings.results.injection) };
  }
  // Instructions in arguments are the model's own words, not planted content: injection is a result concern.
  return { secret: on(settings.arguments.secrets), 'personal-data': on(settings.arguments.personalData) };
}

export function contentGuardrail(settings: ContentSettings): Guardrail {
  const actions: Record<Direction, Actions> = { result: actionsFor(settings, 'result'), argument: actionsFor(settings, 'argument'), 'server-request': actionsFor(settings, 'server-request') };
  // A detector runs when it is switched on and its category has an action in some direction.
  const wanted = (id: string) => {
    const c = CATEGORY.get(id);
    return settings.detectors[id] !== false && c !== undefined && (actions.result[c] !== undefined || actions.argument[c] !== undefined);
  };
  const scanner = createScanner({ detectors: CONTENT_DETECTORS.filter((d) => wanted(d.id)) });
  const directions = new Set<Direction>((['result', 'argument', 'server-request'] as const).filter((d) => Object.values(actions[d]).some((a) => a !== undefined)));
  return {
    name: BUILTIN_GUARDRAIL,
    directions,
    inspect(input: GuardrailInput): GuardrailFinding[] {
      const act = actions[input.direction];
      const out: GuardrailFinding[] = [];
      for (const f of scanner.scanContent(input.value, input.direction === 'argument' ? 'argument' : 'result')) {
        const category = CATEGORY.get(f.rule) ?? 'other';
        const action = act[category];
        if (action) out.push({ rule: f.rule, severity: f.severity, message: f.message, path: f.path, span: f.span, excerpt: f.excerpt, action, category });
      }
      return out;
    },
  };
}
