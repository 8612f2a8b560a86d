// `top` for the mesh: rate, errors and duration (RED) per service over a recent window, from the
// service graph the collector derives (/api/meshscope/topology), busiest first.
export interface TopologyNode {
  id: string;
  requests: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface Topology {
  nodes: TopologyNode[];
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

export function renderTop(topology: Topology, windowS: number, at: Date): string {
  const nodes = [...topology.nodes].sort((a, b) => b.requests - a.requests || a.id.localeCompare(b.id));
  const header = ['SERVICE', 'REQ/S', 'ERR%', 'P50 ms', 'P95 ms', 'P99 ms', 'REQUESTS'];
  const rows = nodes.map((n) => [
    n.id,
    (n.requests / windowS).toFixed(1),
    n.requests === 0 ? '0.0' : ((100 * n.errors) / n.requests).toFixed(1),
    ms(n.p50Ms),
    ms(n.p95Ms),
    ms(n.p99Ms),
    String(n.requests),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const title = `meshscope top: ${nodes.length} services, last ${windowS} s, ${at.toISOString()}`;
  const body = rows.length === 0 ? ['(no requests in the window)'] : rows.map(line);
  return `${[title, '', line(header), ...body].join('\n')}\n`;
}
