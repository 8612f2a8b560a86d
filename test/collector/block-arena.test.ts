// A Native block's own buffers (Array offsets, LowCardinality keys and indexes) come from a
// BlockArena kept between inserts: each block is byte for byte what a fresh allocation makes,
// a block's buffers stay intact until the arena is reset, and blocks after the first take no
// new memory.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSidecarBodies, makeSyntheticBodies } from '../../bench/lib/span-shapes.js';
import { spanWindow } from '../../collector/pipeline/time-window.js';
import { decodeTracesToColumns } from '../../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../../collector/servicegraph/store.js';
import {
  BlockArena,
  ByteDictionary,
  lowCardinalityInSteps,
  offsets,
} from '../../collector/storage/clickhouse/native.js';
import {
  type SpanColumns,
  SpanColumnsWriter,
  spanBlock,
  spanBlockInTurns,
} from '../../collector/storage/clickhouse/span-columns.js';

const digest = (chunks: readonly Buffer[]): string => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

function records(bodies: readonly Buffer[], from: number, n: number): SpanColumns[] {
  const w = new SpanColumnsWriter();
  const out: SpanColumns[] = [];
  for (let i = from; i < from + n; i++) {
    decodeTracesToColumns(bodies[i % bodies.length]!, w, {
      graphKeys: GRAPH_ATTRIBUTE_KEYS,
      ...spanWindow({ maxAgeDays: 30, maxFutureMs: 3_600_000 }, Date.now()),
    });
    out.push(w.take());
  }
  return out;
}

describe('BlockArena', () => {
  it("assembles blocks byte for byte as fresh buffers do, and takes no new memory once it has a block's size", async () => {
    const arena = new BlockArena();
    for (const bodies of [makeSidecarBodies(), makeSyntheticBodies()]) {
      const blocks = [records(bodies, 0, 30), records(bodies, 30, 30), records(bodies, 0, 30), records(bodies, 0, 30)];
      for (const [i, block] of blocks.entries()) {
        const before = arena.bytes;
        const chunks = await spanBlockInTurns(block, arena);
        expect(digest(chunks)).toBe(digest(spanBlock(block)));
        // The last block is the one before it again: it fits in the memory that one left.
        if (i === blocks.length - 1) expect(arena.bytes).toBe(before);
        arena.reset();
      }
      expect(arena.bytes).toBeGreaterThan(0);
    }
    arena.clear();
    expect(arena.bytes).toBe(0);
  });

  it("keeps a block's buffers intact until reset, while the next block is cut after them", async () => {
    const bodies = makeSidecarBodies();
    const arena = new BlockArena();
    const first = records(bodies, 0, 20);
    const firstChunks = await spanBlockInTurns(first, arena);
    const expected = digest(spanBlock(first));
    const second = records(bodies, 20, 20);
    const secondChunks = await spanBlockInTurns(second, arena);
    expect(digest(firstChunks)).toBe(expected);
    expect(digest(secondChunks)).toBe(digest(spanBlock(second)));
  });

  it('narrows LowCardinality indexes to 1, 2 and 4 bytes in the arena as a fresh buffer holds them', () => {
    for (const keys of [200, 300, 70_000]) {
      const dict = new ByteDictionary(Number.MAX_SAFE_INTEGER);
      for (let k = 0; k < keys; k++) dict.idOfString(`key-${k}`);
      // Every key once, then again in another order: the index width is the key count's.
      const ids = Buffer.alloc(keys * 2 * 4);
      for (let i = 0; i < keys; i++) {
        ids.writeUInt32LE(i, i * 4);
        ids.writeUInt32LE((i * 7919) % keys, (keys + i) * 4);
      }
      const fresh: Buffer[] = [];
      for (const _ of lowCardinalityInSteps(fresh, [ids], [dict]));
      const arena = new BlockArena();
      arena.take(13); // an unaligned start before the column's buffers
      const pooled: Buffer[] = [];
      for (const _ of lowCardinalityInSteps(pooled, [ids], [dict], arena));
      expect(digest(pooled)).toBe(digest(fresh));
      expect(pooled.at(-1)!.length).toBe(keys * 2 * (keys <= 0x100 ? 1 : keys <= 0x10000 ? 2 : 4));
    }
  });

  it('reads ids and sizes at any byte offset: an unaligned stream gives the values an aligned one does', () => {
    const keys = 300;
    const dict = new ByteDictionary(Number.MAX_SAFE_INTEGER);
    for (let k = 0; k < keys; k++) dict.idOfString(`key-${k}`);
    const n = 5000;
    const aligned = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) aligned.writeUInt32LE((i * 7919) % keys, i * 4);
    // The same words one byte into a buffer: no UInt32 view of them is possible.
    const unaligned = Buffer.alloc(n * 4 + 1).subarray(1);
    aligned.copy(unaligned);
    const block = (ids: Buffer, arena?: BlockArena): Buffer => {
      const out: Buffer[] = [];
      for (const _ of lowCardinalityInSteps(out, [ids.subarray(0, 2000), ids.subarray(2000)], [dict, dict], arena));
      return Buffer.concat(out);
    };
    const expected = block(aligned);
    expect(block(unaligned)).toEqual(expected);
    expect(block(unaligned, new BlockArena())).toEqual(expected);
    expect(block(aligned, new BlockArena())).toEqual(expected);
    // What the column means: UInt64 flags, key count, the keys (varint length + bytes), UInt64
    // value count, then a UInt16 index per value naming the value's key.
    const keyCount = Number(expected.readBigUInt64LE(8));
    const list: string[] = [];
    let at = 16;
    for (let k = 0; k < keyCount; k++) {
      const len = expected[at]!;
      list.push(expected.toString('utf8', at + 1, at + 1 + len));
      at += 1 + len;
    }
    expect(Number(expected.readBigUInt64LE(at))).toBe(n);
    at += 8;
    for (let i = 0; i < n; i++)
      expect(list[expected.readUInt16LE(at + 2 * i)]).toBe(`key-${aligned.readUInt32LE(i * 4)}`);

    const sizes = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) sizes.writeUInt32LE(i % 17, i * 4);
    const shifted = Buffer.alloc(n * 4 + 3).subarray(3);
    sizes.copy(shifted);
    const ends = (streams: Buffer[], arena?: BlockArena): Buffer => {
      const out: Buffer[] = [];
      offsets(out, streams, arena);
      return out[0]!;
    };
    const want = Buffer.alloc(n * 8);
    for (let i = 0, end = 0; i < n; i++) want.writeBigUInt64LE(BigInt((end += i % 17)), i * 8);
    expect(ends([sizes.subarray(0, 400), sizes.subarray(400)], new BlockArena())).toEqual(want);
    expect(ends([shifted.subarray(0, 400), shifted.subarray(400)], new BlockArena())).toEqual(want);
    expect(ends([sizes.subarray(0, 400), shifted.subarray(400)])).toEqual(want);
  });
});
