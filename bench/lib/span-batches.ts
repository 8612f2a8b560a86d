// Span batches decoded as the collector's receiver decodes them (service-graph keys, a 7-day
// window), for the benches that insert them into embedded chDB over and over: `count` batches
// of at least `rows` spans each, from `bodies` taken in turn (each batch from its own offset, so
// consecutive inserts are not the same bytes).
import { spanWindow } from '../../collector/pipeline/time-window.js';
import { decodeTracesToColumns } from '../../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import { type SpanColumns, SpanColumnsWriter } from '../../collector/storage/clickhouse/span-columns.js';

export function decodedSpanBatches(bodies: readonly Buffer[], rows: number, count = 2): SpanColumns[][] {
  const opts = {
    graphKeys: GRAPH_ATTRIBUTE_KEYS,
    ...spanWindow({ maxAgeDays: 7, maxFutureMs: 3_600_000 }, Date.now()),
  };
  const writer = new SpanColumnsWriter();
  const batches: SpanColumns[][] = [];
  for (let b = 0; b < count; b++) {
    const records: SpanColumns[] = [];
    for (let i = 0, n = 0; n < rows; i++) {
      decodeTracesToColumns(bodies[(b * 7 + i) % bodies.length]!, writer, opts);
      const taken = writer.take();
      n += taken.rows;
      records.push(taken);
    }
    batches.push(records);
  }
  return batches;
}
