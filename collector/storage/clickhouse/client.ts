// One @clickhouse/client for both deployments: embedded chDB (its connection plugged into the
// client, data under the collector's data directory) or a ClickHouse server by URL. Callers
// see one SQL dialect and one API either way.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
// Before 'chdb': its allocator reads these options when the library loads.
import './jemalloc-options.js';
import { Session } from 'chdb';
import { createChdbConnection, type ChdbConnection } from 'chdb/connection';
import { EMBEDDED_QUERY_SETTINGS, engineArgs } from './embedded.js';
import { EngineThreadPriority } from './engine-threads.js';

type EmbeddedConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

/** The connection's statements (each one native call that holds a libuv pool worker). */
const STATEMENTS = new Set<PropertyKey>(['query', 'exec', 'command', 'insert', 'ping']);

/**
 * Statements of the query connection running at once; the rest wait here, in order. A chDB
 * statement holds one of libuv's pool workers (4 by default) until it finishes, and the pool
 * also runs the write-ahead log's durable write (what every ack waits for), the staging file
 * and gzip request bodies. With the query API's statements unbounded (a dashboard asks many at
 * once), four slow queries took every worker and an append made meanwhile became durable only
 * once the first of them finished. Two for queries and one for the writer's insert leave the
 * log a worker whatever ClickHouse is doing.
 */
const QUERY_STATEMENTS_AT_ONCE = 2;

/** `connection` with at most `slots` statements in flight, the others queued in order. */
function boundedStatements(connection: ChdbConnection, slots: number): ChdbConnection {
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> | undefined => {
    if (running < slots) {
      running++;
      return undefined;
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    // The slot passes straight to the next statement.
    if (next !== undefined) next();
    else running--;
  };
  return new Proxy(connection, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (!STATEMENTS.has(prop)) return method.bind(target);
      return async (...args: unknown[]): Promise<unknown> => {
        await acquire();
        try {
          return await method.apply(target, args);
        } finally {
          release();
        }
      };
    },
  });
}

export type ClickHouseTarget =
  | { kind: 'embedded'; path: string }
  | { kind: 'url'; url: string; username: string; password: string; database: string };

export interface StorageClient {
  client: ClickHouseClient;
  target: ClickHouseTarget;
  /**
   * Embedded only: the writer's own chDB connection (same engine and data as `client`'s). A
   * connection runs one statement at a time: on `client`'s, a query asked while a batch was
   * being inserted waited for the whole insert (1.35 s behind an 8M-row insert, 0.15 s on
   * another connection), and so did the time from ack to queryable.
   */
  embedded: ChdbConnection | undefined;
  /** Embedded only: keeps chDB's threads below the event loop's priority (looked at again after each insert). */
  engineThreads: EngineThreadPriority | undefined;
  /** Closes the client and what it opened. */
  close(): Promise<void>;
}

/**
 * `memoryBytes`, embedded only: the engine's memory ceiling. The engine is one per process and
 * takes its arguments from the first session, so this must run before any other at the path.
 * `threadNice`, embedded only: how many nice levels chDB's threads run below the caller's
 * (engine-threads.ts; 0 leaves them alone).
 */
export function createStorageClient(target: ClickHouseTarget, memoryBytes?: number, threadNice = 0): StorageClient {
  if (target.kind === 'embedded') {
    const path = resolve(target.path);
    mkdirSync(path, { recursive: true });
    const engine =
      memoryBytes !== undefined ? new Session(path, { connectionArgs: engineArgs(memoryBytes) }) : undefined;
    const connection = boundedStatements(createChdbConnection({ path }), QUERY_STATEMENTS_AT_ONCE);
    const writer = createChdbConnection({ path });
    const engineThreads = new EngineThreadPriority(threadNice);
    const client = createClient({
      // chdb ships its own copy of @clickhouse/client-common's types; the runtime contract is
      // the same, the declarations differ only in which package they were emitted from.
      connection: connection as unknown as EmbeddedConnection,
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1, ...EMBEDDED_QUERY_SETTINGS },
    });
    return {
      client,
      target,
      embedded: writer,
      engineThreads,
      async close() {
        engineThreads.close();
        await client.close();
        await writer.close();
        engine?.close();
      },
    };
  }
  const client = createClient({
    url: target.url,
    username: target.username,
    password: target.password,
    database: target.database,
    // The collector keeps its own retry loop in order; the client must fail fast.
    request_timeout: 30_000,
    max_open_connections: 4,
    // Failures surface as typed errors to the writer, which reports an outage once, not per retry.
    log: { level: ClickHouseLogLevel.OFF },
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
  return { client, target, embedded: undefined, engineThreads: undefined, close: () => client.close() };
}

/**
 * Creates the server-side database the collector writes to, as the OpenTelemetry exporter
 * does. Runs through `default`: the target database may not exist yet.
 */
export async function createDatabase(target: Extract<ClickHouseTarget, { kind: 'url' }>): Promise<void> {
  const bootstrap = createClient({
    url: target.url,
    username: target.username,
    password: target.password,
    database: 'default',
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    // The name is validated as a plain identifier by the collector's options schema.
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS \`${target.database}\`` });
  } finally {
    await bootstrap.close();
  }
}
