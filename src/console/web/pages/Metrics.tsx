/** Live charts of the last five minutes (refreshed every two seconds): hand-drawn SVG, no chart library. */
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';

interface Point { t: number; calls: number; errors: number; denials: number; p50: number | null; p95: number | null; p99: number | null }
interface Snapshot { windowSeconds: number; points: Point[]; totals: { calls: number; errors: number; denials: number } }

const W = 900;
const H = 140;
const PAD = 28;

function Chart({ title, unit, series }: { title: string; unit: string; series: Array<{ name: string; cls: string; values: Array<number | null> }> }) {
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const x = (i: number) => PAD + (i * (W - PAD - 4)) / Math.max(1, n - 1);
  const y = (v: number) => H - PAD / 2 - (v / max) * (H - PAD);
  const path = (values: Array<number | null>) => {
    let d = '';
    let pen = false;
    values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const last = (s: { values: Array<number | null> }) => [...s.values].reverse().find((v) => v !== null);
  return (
    <figure class="chart">
      <figcaption>{title} {series.map((s) => <span key={s.name} class={`legend ${s.cls}`}>{s.name} {last(s) !== undefined ? Number(last(s)).toFixed(unit === 'ms' ? 1 : 0) : '–'}</span>)}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        <line class="axis" x1={PAD} y1={H - PAD / 2} x2={W} y2={H - PAD / 2} />
        <text class="tick" x={2} y={y(max) + 4}>{max.toFixed(unit === 'ms' ? 0 : 0)}</text>
        <text class="tick" x={2} y={H - PAD / 2}>0</text>
        {series.map((s) => <path key={s.name} class={`line ${s.cls}`} d={path(s.values)} />)}
      </svg>
    </figure>
  );
}

export function Metrics() {
  const [snap, setSnap] = useState<Snapshot>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => get<Snapshot>('metrics').then((s) => { setSnap(s); setError(undefined); }, (e: Error) => setError(e.message));
    void load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, []);
  if (error) return <p class="error">{error}</p>;
  if (!snap) return <p>Loading…</p>;
  const pts = snap.points;
  return (
    <section>
      <h1>Metrics</h1>
      <p class="muted" id="totals">Last {snap.windowSeconds / 60} minutes: {snap.totals.calls} requests, {snap.totals.errors} errors, {snap.totals.denials} denials.</p>
      <Chart title="Requests per second" unit="/s" series={[{ name: 'calls', cls: 's1', values: pts.map((p) => p.calls) }]} />
      <Chart title="Errors per second" unit="/s" series={[{ name: 'errors', cls: 's3', values: pts.map((p) => p.errors) }]} />
      <Chart title="Latency" unit="ms" series={[
        { name: 'p50', cls: 's1', values: pts.map((p) => p.p50) },
        { name: 'p95', cls: 's2', values: pts.map((p) => p.p95) },
        { name: 'p99', cls: 's3', values: pts.map((p) => p.p99) },
      ]} />
      <Chart title="Denials per second" unit="/s" series={[{ name: 'denials', cls: 's2', values: pts.map((p) => p.denials) }]} />
    </section>
  );
}
