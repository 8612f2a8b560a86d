// A migrated embedded (chDB) store of the file's own, for the tests that write to ClickHouse
// directly (the writer, the codecs, the views) without a collector in front: opened in a fresh
// temporary directory before the file's tests, closed and removed after them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createStorageClient, type StorageClient } from '../../collector/storage/clickhouse/client.js';
import { migrate } from '../../collector/storage/clickhouse/migrate.js';

export interface EmbeddedStore {
  /** The temporary directory; the store lives in its `clickhouse` folder, the rest is the test's. */
  readonly dir: string;
  /** The store, open from the file's beforeAll to its afterAll. */
  readonly storage: StorageClient;
}

/** Call at a test file's top level: registers the beforeAll that opens the store and the afterAll that removes it. */
export function useEmbeddedStore(prefix: string): EmbeddedStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let storage: StorageClient | undefined;
  beforeAll(async () => {
    storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') });
    await migrate(storage.client, { ttlDays: 0 });
  });
  afterAll(async () => {
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    get storage(): StorageClient {
      if (storage === undefined) throw new Error('the embedded store opens in beforeAll; use it inside a test');
      return storage;
    },
  };
}
