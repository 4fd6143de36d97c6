/** Calendar windows for quotas: when the current day or month ends in a time zone (midnight, local time). */

const formats = new Map<string, Intl.DateTimeFormat>();

function parts(t: number, tz: string): { y: number; m: number; d: number; offsetMs: number } {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formats.set(tz, f);
  }
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(new Date(t))) if (x.type !== 'literal') p[x.type] = Number(x.value);
  const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return { y: p.year!, m: p.month! - 1, d: p.day!, offsetMs: local - Math.floor(t / 1000) * 1000 };
}

/** The instant local wall time y-m-d 00:00 happens in `tz` (the first such instant around a DST change). */
function midnight(y: number, m: number, d: number, tz: string): number {
  const wall = Date.UTC(y, m, d);
  // Two passes settle the offset (it may differ between the guess and the answer across a DST change).
  let t = wall - parts(wall, tz).offsetMs;
  t = wall - parts(t, tz).offsetMs;
  return t;
}

/** When the window containing `now` ends: the next local midnight (daily) or the first of next month (monthly). */
export function windowEnd(now: number, period: 'daily' | 'monthly', tz: string): number {
  const { y, m, d } = parts(now, tz);
  return period === 'daily' ? midnight(y, m, d + 1, tz) : midnight(y, m + 1, 1, tz);
}
