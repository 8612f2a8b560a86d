// Inserts pre-encoded RowBinary rows with explicit column lists. chDB parses RowBinary for
// about half the CPU of JSONCompactEachRow (bench/collector.ts measures both on the same
// spans). chdb/connection's raw insert only takes text formats, so embedded, a batch is
// written to a staging file and inserted with `FROM INFILE` (a page-cache write, then parsed
// on chDB's threads, never on the event loop); to a server the rows stream as the HTTP body.
// Rows stay in Buffers (off the V8 heap) from encoding to insert.

import { mkdirSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
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

/** Writes a batch's chunks to `file` as they are (vectored, no concatenated copy of the batch). */
async function stage(file: string, chunks: readonly Buffer[]): Promise<void> {
  const fh = await open(file, 'w');
  try {
    // In groups of IOV_MAX (1024) buffers; a short write continues where it stopped.
    for (let i = 0; i < chunks.length; i += 1024) {
      let group = chunks.slice(i, i + 1024);
      for (;;) {
        const expected = group.reduce((n, c) => n + c.length, 0);
        const { bytesWritten } = await fh.writev(group);
        if (bytesWritten === expected) break;
        let skip = bytesWritten;
        const rest: Buffer[] = [];
        for (const c of group) {
          if (skip >= c.length) skip -= c.length;
          else {
            rest.push(skip > 0 ? c.subarray(skip) : c);
            skip = 0;
          }
        }
        group = rest;
      }
    }
  } finally {
    await fh.close();
  }
}

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
          await stage(file, chunks);
          try {
            await embedded.chdb.queryAsync(
              `INSERT INTO ${table} (${columns}) FROM INFILE ${sqlString(file)} FORMAT RowBinary`,
            );
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
