// `top` for the mesh: rate, errors and duration (RED) per service over a recent window, from the
// service graph the collector derives (/api/meshscope/topology), busiest first; under a service
// with workload versions, a row per version (what each served).
interface Red {
  requests: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface TopologyNode extends Red {
  id: string;
  /** Absent from collectors older than version sub-nodes. */
  versions?: Array<Red & { version: string }>;
}

export interface Topology {
  nodes: TopologyNode[];
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

export function renderTop(topology: Topology, windowS: number, at: Date): string {
  const nodes = [...topology.nodes].sort((a, b) => b.requests - a.requests || a.id.localeCompare(b.id));
  const header = ['SERVICE', 'REQ/S', 'ERR%', 'P50 ms', 'P95 ms', 'P99 ms', 'REQUESTS'];
  const row = (name: string, r: Red): string[] => [
    name,
    (r.requests / windowS).toFixed(1),
    r.requests === 0 ? '0.0' : ((100 * r.errors) / r.requests).toFixed(1),
    ms(r.p50Ms),
    ms(r.p95Ms),
    ms(r.p99Ms),
    String(r.requests),
  ];
  const rows = nodes.flatMap((n) => [row(n.id, n), ...(n.versions ?? []).map((v) => row(`  ${v.version}`, v))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const title = `meshscope top: ${nodes.length} services, last ${windowS} s, ${at.toISOString()}`;
  const body = rows.length === 0 ? ['(no requests in the window)'] : rows.map(line);
  return `${[title, '', line(header), ...body].join('\n')}\n`;
}
