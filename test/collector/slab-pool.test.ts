// The span columns' slabs are written again once every record that reads them is released
// (SlabPool), and never before: a record kept past its neighbours' release (a batch waiting
// for its insert, a retry) still reads its own rows, byte for byte.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSidecarBodies } from '../../bench/lib/span-shapes.js';
import { spanWindow } from '../../collector/pipeline/time-window.js';
import { decodeTracesToColumns } from '../../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import { RowBinaryWriter, SlabPool } from '../../collector/storage/clickhouse/rowbinary.js';
import { type SpanColumns, SpanColumnsWriter, spanBlock } from '../../collector/storage/clickhouse/span-columns.js';

const bodies = makeSidecarBodies();
const opts = () => ({
  graphKeys: GRAPH_ATTRIBUTE_KEYS,
  ...spanWindow({ maxAgeDays: 30, maxFutureMs: 3_600_000 }, Date.now()),
});
/** A record's Native block, by its digest (deep equality of MB-sized Buffers is slow in expect). */
const blockOf = (records: SpanColumns[]): string =>
  createHash('sha256')
    .update(Buffer.concat(spanBlock(records)))
    .digest('hex');

describe('SlabPool', () => {
  it('gives a slab back only once every record reading it is released, and the kept ones stay intact', () => {
    const pool = new SlabPool(64 << 20);
    const w = new SpanColumnsWriter(undefined, pool);
    const decode = (i: number): SpanColumns => {
      decodeTracesToColumns(bodies[i % bodies.length]!, w, opts());
      return w.take();
    };
    // Enough records that the busiest streams fill several slabs.
    const kept: SpanColumns[] = [];
    const released: SpanColumns[] = [];
    for (let i = 0; i < 40; i++) (i % 4 === 0 ? kept : released).push(decode(i));
    const keptBytes = kept.map((r) => blockOf([r]));
    expect(pool.freeBytes).toBe(0);

    for (const r of released) r.release();
    // Slabs that only released records read (and the writer moved past) are free; slabs a kept
    // record reads are not.
    expect(pool.freeBytes).toBeGreaterThan(0);

    // Writing on takes the free slabs again, and the kept records read what they held.
    const more: SpanColumns[] = [];
    for (let i = 40; i < 80; i++) more.push(decode(i));
    expect(kept.map((r) => blockOf([r]))).toEqual(keptBytes);

    // The new records are the same bodies decoded again: byte for byte what the first ones were
    // (dictionary ids included: the writer's dictionaries carry on).
    const fresh = new SpanColumnsWriter();
    const expected: string[] = [];
    for (let i = 0; i < 80; i++) {
      decodeTracesToColumns(bodies[i % bodies.length]!, fresh, opts());
      const r = fresh.take();
      if (i >= 40) expected.push(blockOf([r]));
    }
    expect(more.map((r) => blockOf([r]))).toEqual(expected);
  });

  it('pools a writer’s slab only after every view of it is released, and lets go of it when idle', () => {
    const pool = new SlabPool(1 << 20);
    const w = new RowBinaryWriter(4096, pool);
    const put = (fill: number): Buffer => {
      w.bytes(Buffer.alloc(1100, fill));
      return w.take();
    };
    const views = [put(1), put(2), put(3)]; // one slab
    const next = put(4); // does not fit: a second slab, the first retired
    expect(pool.freeBytes).toBe(0);
    pool.release(views[0]!);
    pool.release(views[1]!);
    expect(pool.freeBytes).toBe(0); // views[2] still reads it
    pool.release(views[2]!);
    expect(pool.freeBytes).toBe(4096);
    pool.release(views[2]!); // a second release of a free slab changes nothing
    expect(pool.freeBytes).toBe(4096);
    const later = [put(5), put(6)];
    put(7); // the second slab is full: the free one is taken
    expect(pool.freeBytes).toBe(0);
    expect(next.equals(Buffer.alloc(1100, 4))).toBe(true);
    for (const v of [next, ...later]) pool.release(v);
    expect(pool.freeBytes).toBe(4096);
    pool.trim(); // a slab was taken since the last trim: kept
    expect(pool.freeBytes).toBe(4096);
    pool.trim(); // idle since: let go
    expect(pool.freeBytes).toBe(0);
  });
});
