// The two datasources every board queries. The uids are fixed so provisioned datasources,
// generated dashboards and data links agree without any lookup at import time.
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

const CLICKHOUSE_PLUGIN = 'grafana-clickhouse-datasource';

export const clickhouse: DataSourceRef = { type: CLICKHOUSE_PLUGIN, uid: 'meshscope-clickhouse' };
export const prometheus: DataSourceRef = { type: 'prometheus', uid: 'meshscope-prometheus' };
