// k6 duration strings ("1m30s", "500ms", "2h") and plain numbers (milliseconds in options, as k6).

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;

/** Milliseconds, or undefined when the value is not a valid duration. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  let total = 0;
  PART.lastIndex = 0;
  let consumed = 0;
  for (let m = PART.exec(s); m !== null; m = PART.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = PART.lastIndex;
  }
  return consumed === s.length ? total : undefined;
}

/** k6's human duration: 1m30s, 2.5s, 120ms, 850µs. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000) {
    const h = Math.floor(ms / 3_600_000);
    const m = Math.floor((ms % 3_600_000) / 60_000);
    const s = (ms % 60_000) / 1000;
    return `${h > 0 ? `${h}h` : ''}${m > 0 || h > 0 ? `${m}m` : ''}${trim(s, 1)}s`;
  }
  if (ms >= 1000) return `${trim(ms / 1000, 2)}s`;
  if (ms >= 1) return `${trim(ms, 2)}ms`;
  if (ms > 0) return `${trim(ms * 1000, 2)}µs`;
  return '0s';
}

function trim(n: number, digits: number): string {
  return String(Number(n.toFixed(digits)));
}
