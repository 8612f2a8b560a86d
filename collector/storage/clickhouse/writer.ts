// Inserts pre-encoded RowBinary rows with explicit column lists. chDB parses RowBinary for
// about half the CPU of JSONCompactEachRow (bench/collector.ts measures both on the same
// spans). chdb/connection's raw insert only takes text formats, so embedded, a batch is
// written to a staging file and inserted with `FROM INFILE` (a page-cache write, then parsed
// on chDB's threads, never on the event loop); to a server the rows stream as the HTTP body.
// Rows stay in Buffers (off the V8 heap) from encoding to insert.

import { mkdirSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { StorageError } from '../../errors.js';
import { LOG_COLUMNS, SPAN_COLUMNS } from '../../receivers/otlp/model.js';
import { EDGE_COLUMNS } from '../../servicegraph/store.js';
import type { StorageClient } from './client.js';

export type TableName = 'otel_traces' | 'otel_logs' | 'otel_service_graph_edges';

export interface RowWriter {
  insert(table: TableName, chunks: readonly Buffer[]): Promise<void>;
}

export const TABLE_COLUMNS: Record<TableName, readonly string[]> = {
  otel_traces: SPAN_COLUMNS,
  otel_logs: LOG_COLUMNS,
  otel_service_graph_edges: EDGE_COLUMNS,
};

const sqlString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function createRowWriter(storage: StorageClient): RowWriter {
  const { client, embedded, target } = storage;
  // Beside the chDB data directory; one file per table, since the pipeline inserts one
  // batch at a time.
  const staging = target.kind === 'embedded' ? resolve(dirname(target.path), 'insert-staging') : '';
  if (embedded !== undefined) mkdirSync(staging, { recursive: true });
  return {
    async insert(table, chunks) {
      if (chunks.length === 0) return;
      const columns = TABLE_COLUMNS[table].join(', ');
      try {
        if (embedded !== undefined) {
          const file = join(staging, `${table}.RowBinary`);
          await writeFile(file, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
          try {
            await embedded.chdb.queryAsync(`INSERT INTO ${table} (${columns}) FROM INFILE ${sqlString(file)} FORMAT RowBinary`);
          } finally {
            await unlink(file).catch(() => undefined);
          }
          return;
        }
        const result = await client.exec({
          query: `INSERT INTO ${table} (${columns}) FORMAT RowBinary`,
          values: Readable.from(chunks, { objectMode: false }),
        });
        result.stream.resume();
      } catch (err) {
        throw new StorageError(`insert into ${table} failed: ${(err as Error).message}`, err);
      }
    },
  };
}
