// Inserts pre-serialized JSONEachRow bodies. JSONEachRow was chosen by measurement (see
// bench/collector.ts): through chdb/connection every format travels as text, and building
// JSON lines with JSON.stringify for strings is the cheapest correct escaping in V8, while
// ClickHouse's parallel JSON parser keeps the insert off the event loop (chDB runs it on the
// libuv pool; a server parses it remotely).

import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { StorageError } from '../../errors.js';

export type TableName = 'otel_traces' | 'otel_logs' | 'otel_service_graph_edges';

export async function insertRows(client: ClickHouseClient, table: TableName, body: string): Promise<void> {
  if (body.length === 0) return;
  try {
    const result = await client.exec({
      query: `INSERT INTO ${table} FORMAT JSONEachRow`,
      values: Readable.from([Buffer.from(body)], { objectMode: false }),
      clickhouse_settings: { input_format_skip_unknown_fields: 0 },
    });
    result.stream.resume();
  } catch (err) {
    throw new StorageError(`insert into ${table} failed: ${(err as Error).message}`, err);
  }
}
