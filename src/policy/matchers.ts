/**
 * Friendly-layer matchers that are neither targets nor arguments: who the rule is for, and when it applies.
 */
import type { PrincipalMatchSpec, TimeWindowSpec } from './configSchema.js';
import { WEEKDAYS } from './configSchema.js';
import type { Condition, PrincipalMatcher } from './rule.js';
import type { PolicyPrincipal } from './types.js';

type Field = keyof PrincipalMatchSpec;

/** Each principal field, read without allocating: single-valued fields with `one`, lists with `many`. */
const FIELDS: readonly { field: Field; label: string; one?: (p: PolicyPrincipal) => string | undefined; many?: (p: PolicyPrincipal) => readonly string[] }[] = [
  { field: 'subjects', label: 'subject', one: (p) => p.subject },
  { field: 'issuers', label: 'issuer', one: (p) => p.issuer },
  { field: 'clients', label: 'client', one: (p) => p.clientId },
  { field: 'roles', label: 'roles', many: (p) => p.roles },
  { field: 'groups', label: 'groups', many: (p) => p.groups },
  { field: 'scopes', label: 'scopes', many: (p) => p.scopes },
  { field: 'tenants', label: 'tenant', one: (p) => p.tenant },
  { field: 'methods', label: 'method', one: (p) => p.method },
];

interface Clause {
  readonly label: string;
  readonly wanted: ReadonlySet<string>;
  readonly one: ((p: PolicyPrincipal) => string | undefined) | undefined;
  readonly many: ((p: PolicyPrincipal) => readonly string[]) | undefined;
}

/** Every field given must match (any of its values); a list of matchers matches when any does. */
export function compilePrincipals(spec: PrincipalMatchSpec | PrincipalMatchSpec[] | undefined): PrincipalMatcher | undefined {
  if (spec === undefined) return undefined;
  const alternatives: Clause[][] = (Array.isArray(spec) ? spec : [spec]).map((m) =>
    FIELDS.flatMap(({ field, label, one, many }) => {
      const values = m[field];
      return values ? [{ label, wanted: new Set<string>(values), one, many }] : [];
    }),
  );
  // Plain loops, no closures per call: this runs for every rule a decision looks at.
  const holds = (c: Clause, p: PolicyPrincipal): boolean => {
    if (c.one) {
      const v = c.one(p);
      return v !== undefined && c.wanted.has(v);
    }
    for (const v of c.many!(p)) if (c.wanted.has(v)) return true;
    return false;
  };
  const values = (c: Clause, p: PolicyPrincipal): readonly string[] => {
    if (!c.one) return c.many!(p);
    const v = c.one(p);
    return v === undefined ? [] : [v];
  };
  return {
    test: (p) => {
      for (const clauses of alternatives) {
        let all = true;
        for (const c of clauses) {
          if (!holds(c, p)) {
            all = false;
            break;
          }
        }
        if (all) return true;
      }
      return false;
    },
    why: (p) =>
      alternatives
        .map((clauses) => {
          const c = clauses.find((x) => !holds(x, p));
          return c ? `principal ${c.label} ${JSON.stringify(values(c, p))} not among ${JSON.stringify([...c.wanted])}` : '';
        })
        .filter(Boolean)
        .join('; or '),
  };
}

/** "08:00" → 480. */
function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** A time window condition; `issue` receives (key, message) for a bad time zone or hours. */
export function compileTimeWindow(spec: TimeWindowSpec, issue: (key: string, message: string) => void): Condition {
  const days = spec.days ? new Set(spec.days.map((d) => WEEKDAYS.indexOf(d))) : undefined;
  let start = 0;
  let end = 24 * 60;
  if (spec.hours) {
    const [a, b] = spec.hours.split('-') as [string, string];
    start = minutes(a);
    end = minutes(b);
    if (end > 24 * 60) issue('hours', `${b} is past 24:00`);
    if (start === end) issue('hours', 'an empty window (start equals end)');
  }
  const tz = spec.timezone ?? 'UTC';
  let local: (d: Date) => { day: number; minute: number } = (d) => ({ day: d.getUTCDay(), minute: d.getUTCHours() * 60 + d.getUTCMinutes() });
  if (tz !== 'UTC') {
    try {
      const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
      local = (d) => {
        let day = 0;
        let minute = 0;
        for (const part of f.formatToParts(d)) {
          if (part.type === 'weekday') day = WEEKDAYS.indexOf(part.value.toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
          else if (part.type === 'hour') minute += Number(part.value) * 60;
          else if (part.type === 'minute') minute += Number(part.value);
        }
        return { day, minute };
      };
    } catch {
      issue('timezone', `unknown time zone ${JSON.stringify(tz)}`);
    }
  }
  const text = `time ${spec.days ? spec.days.join(',') + ' ' : ''}${spec.hours ?? ''} ${tz}`.replace(/\s+/g, ' ').trim();
  return {
    deps: 0,
    stable: true,
    text,
    check(input) {
      const { day, minute } = local(input.context.time);
      if (days && !days.has(day)) return { reason: `${WEEKDAYS[day] ?? '?'} is outside ${text}` };
      const inside = start < end ? minute >= start && minute < end : minute >= start || minute < end;
      if (!inside) return { reason: `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')} is outside ${text}` };
      return undefined;
    },
  };
}
