// Template variables shared by the latency and traces boards.
import {
  QueryVariableBuilder,
  TextBoxVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { clickhouseQuery } from './clickhouse.js';
import { clickhouse } from './datasources.js';
import { TRACES } from './sql.js';

const SERVICE_VARIABLE_SQL = `SELECT DISTINCT ServiceName FROM ${TRACES} WHERE $__timeFilter(Timestamp) ORDER BY ServiceName`;

/** `service`: every service that reported spans in the range; All by default. */
export function serviceVariable(): QueryVariableBuilder {
  return (
    new QueryVariableBuilder('service')
      .label('Service')
      .datasource(clickhouse)
      .query(clickhouseQuery('service', 'table', SERVICE_VARIABLE_SQL))
      .definition(SERVICE_VARIABLE_SQL)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      // Prometheus panels match the label with a regex; All must match every workload.
      .allValue('.*')
      .current({ text: ['All'], value: ['$__all'], selected: true })
  );
}

export function minDurationVariable(): TextBoxVariableBuilder {
  return new TextBoxVariableBuilder('min_duration_ms')
    .label('Min duration (ms)')
    .defaultValue('0')
    .current({ text: '0', value: '0' });
}

export function traceIdVariable(): TextBoxVariableBuilder {
  return new TextBoxVariableBuilder('trace_id').label('Trace id').defaultValue('').current({ text: '', value: '' });
}
