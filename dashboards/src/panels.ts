// Panel pieces every board shares: the link from a trace id cell to the ClickHouse plugin's
// trace view, and the per-field overrides that give node-graph and table columns their units.
import type { DynamicConfigValue } from '@grafana/grafana-foundation-sdk/dashboard';
import { clickhouseQuery } from './clickhouse.js';
import { clickhouse } from './datasources.js';
import { traceViewSql } from './sql.js';

export interface FieldOverride {
  matcher: { id: string; options?: unknown };
  properties: DynamicConfigValue[];
}

/** Grafana's internal data link: clicking a trace id runs a traces query in Explore. */
export function traceLinkOverride(field: string): FieldOverride {
  return {
    matcher: { id: 'byName', options: field },
    properties: [
      {
        id: 'links',
        value: [
          {
            title: 'Open trace ${__value.raw}',
            url: '',
            internal: {
              datasourceUid: clickhouse.uid,
              datasourceName: 'ClickHouse',
              query: clickhouseQuery('traces', 'traces', traceViewSql('${__value.raw}')),
            },
          },
        ],
      },
    ],
  };
}

export function unitOverride(field: string, unit: string, displayName?: string): FieldOverride {
  const properties: DynamicConfigValue[] = [{ id: 'unit', value: unit }];
  if (displayName !== undefined) properties.push({ id: 'displayName', value: displayName });
  return { matcher: { id: 'byName', options: field }, properties };
}
