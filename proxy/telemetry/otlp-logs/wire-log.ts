// An access-log record as plain data, and its string transport between threads (fields split
// by US, records by RS; framing characters inside values are replaced).
export interface WireLog {
  timeMs: number;
  /** '' when the stream had no span. */
  traceId: string;
  spanId: string;
  sampled: boolean;
  body: string;
  attributes: Record<string, string | number>;
}

const US = '\u001f';
const RS = '\u001e';
const FRAMING = /[\u001e\u001f]/g;

function clean(v: string): string {
  return v.indexOf(US) === -1 && v.indexOf(RS) === -1 ? v : v.replace(FRAMING, ' ');
}

export function encodeWireLog(l: WireLog): string {
  let out = `${l.timeMs}${US}${l.traceId}${US}${l.spanId}${US}${l.sampled ? 1 : 0}${US}${clean(l.body)}`;
  for (const key in l.attributes) {
    const v = l.attributes[key]!;
    out += typeof v === 'number' ? `${US}${clean(key)}${US}n${v}` : `${US}${clean(key)}${US}s${clean(v)}`;
  }
  return out + RS;
}

export function decodeWireLogs(s: string): WireLog[] {
  const out: WireLog[] = [];
  for (const rec of s.split(RS)) {
    if (rec === '') continue;
    const f = rec.split(US);
    const attributes: Record<string, string | number> = {};
    for (let i = 5; i + 1 < f.length; i += 2) {
      const raw = f[i + 1]!;
      attributes[f[i]!] = raw.charCodeAt(0) === 0x6e ? Number(raw.slice(1)) : raw.slice(1);
    }
    out.push({ timeMs: Number(f[0]), traceId: f[1]!, spanId: f[2]!, sampled: f[3] === '1', body: f[4]!, attributes });
  }
  return out;
}
