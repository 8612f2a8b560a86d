// Inserts pre-serialized JSONEachRow rows. Through chdb/connection every insert format travels
// as text (binary formats are not on its raw-insert whitelist). bench/collector.ts measures the
// alternatives on the same spans: JSONCompactEachRow costs chDB about 10% less CPU than
// JSONEachRow, which is inside this machine's noise and would tie every row to a positional
// column list (nested columns included), so the self-describing JSONEachRow stays. Embedded,
// rows go to chDB as one Buffer handed over zero-copy (rawInsert) and parsed on its threads,
// never on the event loop; to a server they stream as the HTTP body. Rows stay in Buffers
// (off the V8 heap) from serialization to insert, so the garbage collector never copies them.

import { Readable } from 'node:stream';
import { StorageError } from '../../errors.js';
import type { StorageClient } from './client.js';

export type TableName = 'otel_traces' | 'otel_logs' | 'otel_service_graph_edges';

export interface RowWriter {
  insert(table: TableName, chunks: readonly Buffer[]): Promise<void>;
}

// OTLP/JSON may carry lone UTF-16 surrogates ("\ud800"); JSON.stringify keeps them escaped and
// ClickHouse would refuse the whole batch, on every retry. Stored as is instead.
const INSERT_SETTINGS = { input_format_json_throw_on_bad_escape_sequence: 0 } as const;

export function createRowWriter(storage: StorageClient): RowWriter {
  const { client, embedded } = storage;
  return {
    async insert(table, chunks) {
      if (chunks.length === 0) return;
      try {
        if (embedded !== undefined) {
          await embedded.chdb.rawInsert({ table, values: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), format: 'JSONEachRow', settings: INSERT_SETTINGS });
          return;
        }
        const result = await client.exec({
          query: `INSERT INTO ${table} FORMAT JSONEachRow`,
          values: Readable.from(chunks, { objectMode: false }),
          clickhouse_settings: INSERT_SETTINGS,
        });
        result.stream.resume();
      } catch (err) {
        throw new StorageError(`insert into ${table} failed: ${(err as Error).message}`, err);
      }
    },
  };
}
