// The dashboards as code: each board built from its own module, keyed by the file name its
// generated JSON is committed under (dashboards/generated/<file>).
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { latencyDashboard } from './latency.js';
import { topologyDashboard } from './topology.js';
import { tracesDashboard } from './traces.js';

export { clickhouse, prometheus } from './datasources.js';
export type { ClickHouseQuery, ClickHouseQueryType } from './clickhouse.js';

export const boards: ReadonlyArray<{ file: string; build: () => Dashboard }> = [
  { file: 'mesh-topology.json', build: topologyDashboard },
  { file: 'service-latency.json', build: latencyDashboard },
  { file: 'traces-and-logs.json', build: tracesDashboard },
];

/** The committed form of a board: stable key order as built, two-space indent, final newline. */
export function renderBoard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
