// The SDK has no typed builder for the ClickHouse plugin, so this is the plugin's own query
// model (CHSqlQuery in grafana/clickhouse-datasource src/types/sql.ts) as a cog Dataquery.
// `format` is the sqlutil frame format the plugin's backend converts results with.
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { clickhouse } from './datasources.js';

export type ClickHouseQueryType = 'table' | 'logs' | 'timeseries' | 'traces';

/** sqlutil.FormatQueryOption as the plugin backend reads it. */
const ClickHouseFormat = { timeseries: 0, table: 1, logs: 2, traces: 3 } as const satisfies Record<
  ClickHouseQueryType,
  number
>;

export interface ClickHouseQuery extends Dataquery {
  refId: string;
  hide?: boolean;
  datasource: DataSourceRef;
  editorType: 'sql';
  queryType: ClickHouseQueryType;
  format: (typeof ClickHouseFormat)[ClickHouseQueryType];
  rawSql: string;
}

export class ClickHouseQueryBuilder implements Builder<Dataquery> {
  readonly #query: ClickHouseQuery;

  constructor(refId: string, queryType: ClickHouseQueryType, rawSql: string) {
    this.#query = {
      refId,
      datasource: clickhouse,
      editorType: 'sql',
      queryType,
      format: ClickHouseFormat[queryType],
      rawSql: normalizeSql(rawSql),
      _implementsDataqueryVariant() {},
    };
  }

  build(): ClickHouseQuery {
    return this.#query;
  }
}

/** A ClickHouse query as plain data (for data links, whose queries are stored, not built). */
export function clickhouseQuery(
  refId: string,
  queryType: ClickHouseQueryType,
  rawSql: string,
): Omit<ClickHouseQuery, '_implementsDataqueryVariant'> {
  return {
    refId,
    datasource: clickhouse,
    editorType: 'sql',
    queryType,
    format: ClickHouseFormat[queryType],
    rawSql: normalizeSql(rawSql),
  };
}

// Template literals carry the source file's indentation; the stored SQL should read cleanly
// in Grafana's editor, so common leading whitespace and blank edges are dropped.
function normalizeSql(sql: string): string {
  const lines = sql.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}
