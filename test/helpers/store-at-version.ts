// An embedded store as an older collector left it: the migrations up to `version` applied and
// recorded, nothing after. Tests of a migration write their old-shape rows into it, then start
// today's collector on the same path and check what the migration made of them.
import { createStorageClient, type StorageClient } from '../../collector/storage/clickhouse/client.js';
import { MIGRATIONS_TABLE, migrations } from '../../collector/storage/clickhouse/schema.js';

export async function storeAtSchemaVersion(path: string, version: number): Promise<StorageClient> {
  const store = createStorageClient({ kind: 'embedded', path });
  await store.client.command({
    query: `CREATE TABLE ${MIGRATIONS_TABLE} (Version UInt32, Name String, AppliedAt DateTime DEFAULT now())
ENGINE = ReplacingMergeTree ORDER BY Version`,
  });
  for (const m of migrations.filter((x) => x.version <= version)) {
    for (const statement of m.statements({ ttlDays: 7 })) await store.client.command({ query: statement });
    await store.client.insert({
      table: MIGRATIONS_TABLE,
      values: [{ Version: m.version, Name: m.name }],
      format: 'JSONEachRow',
      columns: ['Version', 'Name'],
    });
  }
  return store;
}
