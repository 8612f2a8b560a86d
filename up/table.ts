// The component table `meshscope up` prints once ready and `meshscope status` prints on demand.
export interface TableRow {
  name: string;
  kind: string;
  pid: number | null;
  state: string;
  ports: number[];
  portNames: string[];
  urls: string[];
  restarts: number;
  readyAfterMs?: number | null;
}

export function renderTable(rows: readonly TableRow[]): string {
  const header = ['COMPONENT', 'KIND', 'PID', 'STATE', 'READY AT', 'PORTS', 'URL'];
  const lines = rows.map((r) => [
    r.name,
    r.kind,
    r.pid === null ? '-' : String(r.pid),
    r.restarts > 0 ? `${r.state} (restarted ${r.restarts}×)` : r.state,
    r.readyAfterMs === undefined || r.readyAfterMs === null ? '-' : `+${(r.readyAfterMs / 1000).toFixed(1)} s`,
    r.ports.map((p, i) => `${r.portNames[i] ?? ''} ${p}`.trim()).join(', '),
    r.urls[0] ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[fmt(header), ...lines.map(fmt)].join('\n')}\n`;
}
