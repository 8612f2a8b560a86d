// The word-at-a-time byte paths of the decoder and column writers: a String value copied from a
// protobuf field (RowBinaryWriter.utf8), a LowCardinality key matched against its dictionary
// (ByteDictionary.is / idOf) and a short string field interned (Reader.string) read 8 bytes per step and then the last 4 as one word that may
// overlap. Every length around those steps, with a byte that differs (or is not ASCII) at every
// position, must give what the plain string path gives.

import { describe, expect, it } from 'vitest';
import { Reader } from '../../collector/receivers/otlp/protobuf.js';
import { ByteDictionary } from '../../collector/storage/clickhouse/native.js';
import { RowBinaryWriter } from '../../collector/storage/clickhouse/rowbinary.js';

const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const ascii = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => 0x61 + (i % 26)));

/** `bytes` as utf8() stores them from inside a larger buffer, and as string() stores the decoded field. */
function viaBoth(bytes: Buffer): [Buffer, Buffer] {
  // Padding either side: the word reads must stay inside [start, end).
  const src = Buffer.concat([Buffer.from([0xff, 0xfe, 0xfd]), bytes, Buffer.from([0xff, 0xfe, 0xfd])]);
  const a = new RowBinaryWriter(1 << 12);
  a.utf8(src, 3, 3 + bytes.length, viewOf(src));
  const b = new RowBinaryWriter(1 << 12);
  b.string(bytes.toString('utf8'));
  return [Buffer.from(a.take()), Buffer.from(b.take())];
}

describe('String values copied from protobuf fields', () => {
  it('stores ASCII of every length as the decoded string', () => {
    for (let n = 0; n <= 40; n++) {
      const [got, want] = viaBoth(ascii(n));
      expect(got, `length ${n}`).toEqual(want);
      expect(got[0]).toBe(n);
    }
  });

  it('stores a non-ASCII or invalid byte at any position as the decoded string (U+FFFD for invalid)', () => {
    for (let n = 1; n <= 24; n++) {
      for (let at = 0; at < n; at++) {
        for (const odd of [0x80, 0xc3, 0xff]) {
          const bytes = ascii(n);
          bytes[at] = odd;
          const [got, want] = viaBoth(bytes);
          expect(got, `length ${n}, 0x${odd.toString(16)} at ${at}`).toEqual(want);
        }
        const two = Buffer.concat([ascii(at), Buffer.from('é'), ascii(n - at)]);
        const [got, want] = viaBoth(two);
        expect(got, `é at ${at} of ${two.length}`).toEqual(want);
      }
    }
  });
});

describe('LowCardinality keys matched by their bytes', () => {
  it('tells apart keys that differ in one byte at any position, at every length', () => {
    const dict = new ByteDictionary();
    for (let n = 1; n <= 24; n++) {
      const base = ascii(n);
      const src = Buffer.concat([Buffer.from([0x2e]), base, Buffer.from([0x2e])]);
      const id = dict.idOf(src, viewOf(src), 1, 1 + n);
      expect(dict.is(id, src, viewOf(src), 1, 1 + n)).toBe(true);
      expect(dict.value(id)).toEqual(base);
      for (let at = 0; at < n; at++) {
        const other = Buffer.from(src);
        other[1 + at] = 0x5f;
        expect(dict.is(id, other, viewOf(other), 1, 1 + n), `length ${n}, differs at ${at}`).toBe(false);
        const otherId = dict.idOf(other, viewOf(other), 1, 1 + n);
        expect(otherId).not.toBe(id);
        expect(dict.value(otherId)).toEqual(other.subarray(1, 1 + n));
        expect(dict.idOf(src, viewOf(src), 1, 1 + n)).toBe(id);
      }
    }
  });
});

describe('Short string fields interned by their bytes', () => {
  it('gives each field its own text when fields differ in one byte at any position, at every length', () => {
    // Length-prefixed fields one after another, as a message holds them; read twice so the
    // second pass meets every string interned.
    const fields: Buffer[] = [];
    for (let n = 1; n <= 48; n++) {
      fields.push(ascii(n));
      for (let at = 0; at < n; at++) {
        const other = ascii(n);
        other[at] = 0x5f;
        fields.push(other);
      }
    }
    fields.push(Buffer.from('caf\u00e9 \u00fcber'), Buffer.from([0x61, 0xff, 0x62, 0x63, 0x64]));
    const body = Buffer.concat(fields.flatMap((f) => [Buffer.from([f.length]), f]));
    for (let pass = 0; pass < 2; pass++) {
      const r = new Reader(body);
      for (const f of fields) expect(r.string(body.length)).toBe(f.toString('utf8'));
    }
  });
});
