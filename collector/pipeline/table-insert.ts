// One table's rows of one batch into ClickHouse, exactly once and never stuck on poison: the
// whole insert under the batch's token first; refused as data, or too big for ClickHouse's
// memory, it is split: the split is written into the durable checkpoint first (so a restart
// makes the same smaller inserts under the same tokens, never the whole one again, whatever
// memory it then finds), then groups of consecutive records up to SPLIT_GROUP_BYTES, and a
// group refused as data record by record. A record still refused as data is set aside into
// <data>/wal/rejected/ with a metric and a log line; every other failure is the caller's to
// retry (the same inserts, the same tokens).

import { RowBinaryWriter } from '../storage/clickhouse/rowbinary.js';
import {
  insertData,
  isDataError,
  isMemoryError,
  TABLE_COLUMNS,
  type Rows,
  type RowWriter,
  type TableName,
} from '../storage/clickhouse/writer.js';
import type { CollectorMetrics } from '../telemetry.js';
import type { BatchIntent, WriteAheadLog } from './wal.js';

/** One record's rows of one table. */
export interface Part {
  seq: number;
  rows: Rows;
  count: number;
}

/** What identifies a batch's inserts; `intent` gains the split tables as they split. */
export interface BatchIdentity {
  intent: BatchIntent;
  token: string;
}

/** Rows per insert once a batch's table is split. */
const SPLIT_GROUP_BYTES = 2 * 1024 * 1024;

export class TableInserter {
  readonly #writer: RowWriter;
  readonly #wal: WriteAheadLog;
  readonly #metrics: CollectorMetrics;

  constructor(writer: RowWriter, wal: WriteAheadLog, metrics: CollectorMetrics) {
    this.#writer = writer;
    this.#wal = wal;
    this.#metrics = metrics;
  }

  async insert(batch: BatchIdentity, table: TableName, parts: readonly Part[]): Promise<void> {
    if (batch.intent.split?.includes(table) === true) return this.#insertGroups(batch, table, parts);
    try {
      await this.#writer.insert(
        table,
        parts.map((p) => p.rows),
        batch.token,
      );
    } catch (err) {
      const reason = isDataError(err) ? 'data' : isMemoryError(err) ? 'memory' : undefined;
      if (reason === undefined) throw err;
      this.#metrics.insertSplits.inc({ table, reason });
      batch.intent = { ...batch.intent, split: [...(batch.intent.split ?? []), table] };
      await this.#wal.commitBatch(batch.intent);
      await this.#insertGroups(batch, table, parts);
    }
  }

  async #insertGroups(batch: BatchIdentity, table: TableName, parts: readonly Part[]): Promise<void> {
    for (let i = 0; i < parts.length; ) {
      let j = i;
      let bytes = 0;
      while (j < parts.length && (j === i || bytes + parts[j]!.rows.length <= SPLIT_GROUP_BYTES)) {
        bytes += parts[j]!.rows.length;
        j++;
      }
      const group = parts.slice(i, j);
      i = j;
      try {
        await this.#writer.insert(
          table,
          group.map((p) => p.rows),
          `${batch.token}/${group[0]!.seq}-${group[group.length - 1]!.seq}`,
        );
        continue;
      } catch (err) {
        if (!isDataError(err)) throw err;
        if (group.length === 1) {
          this.setAside(`${group[0]!.seq}`, table, [group[0]!.rows], group[0]!.count, err);
          continue;
        }
      }
      for (const p of group) {
        try {
          await this.#writer.insert(table, [p.rows], `${batch.token}/${p.seq}`);
        } catch (err) {
          if (!isDataError(err)) throw err;
          this.setAside(`${p.seq}`, table, [p.rows], p.count, err);
        }
      }
    }
  }

  /**
   * Keeps rows ClickHouse refuses in `<data>/wal/rejected/`, one file per record and table,
   * re-insertable as is (`INSERT INTO <table> FROM INFILE '<file>' FORMAT <the file's
   * extension>`): spans as a Native block, other rows in RowBinaryWithNames. Nothing
   * acknowledged is lost.
   */
  setAside(name: string, table: TableName, rows: readonly Rows[], count: number, err: unknown): void {
    const data = insertData(rows);
    const file =
      data.format === 'Native'
        ? this.#wal.setAside(`${name}-${table}.Native`, data.chunks)
        : this.#wal.setAside(`${name}-${table}.RowBinaryWithNames`, [
            RowBinaryWriter.header(TABLE_COLUMNS[table]),
            ...data.chunks,
          ]);
    this.#metrics.dropped.inc({ what: 'rejected_by_clickhouse' }, count);
    process.emitWarning(
      `collector: ClickHouse refused ${count} rows of ${table}; kept in ${file}: ${(err as Error).message}`,
    );
  }
}
