// Applies the versioned migrations in order and records each one. Safe to run twice and from
// two processes at once: every statement is IF NOT EXISTS, and the record table is a
// ReplacingMergeTree keyed by version, so a version recorded twice collapses to one row.

import type { ClickHouseClient } from '@clickhouse/client';
import { MIGRATIONS_TABLE, migrations, type SchemaOptions } from './schema.js';

export interface MigrationResult {
  applied: number[];
  current: number;
}

export async function migrate(client: ClickHouseClient, options: SchemaOptions): Promise<MigrationResult> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
    Version UInt32,
    Name String,
    AppliedAt DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree ORDER BY Version`,
  });
  const rs = await client.query({ query: `SELECT DISTINCT Version FROM ${MIGRATIONS_TABLE}`, format: 'JSONEachRow' });
  const done = new Set((await rs.json<{ Version: number }>()).map((r) => Number(r.Version)));
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements(options)) await client.command({ query: statement });
    await client.insert({
      table: MIGRATIONS_TABLE,
      values: [{ Version: m.version, Name: m.name }],
      format: 'JSONEachRow',
      columns: ['Version', 'Name'],
    });
    applied.push(m.version);
  }
  return { applied, current: migrations[migrations.length - 1]?.version ?? 0 };
}
