// Reader.varint: one-byte values take a fast path, longer ones the general loop; both must read
// the same numbers, stop at the enclosing message's end and refuse a truncated value.

import { describe, expect, it } from 'vitest';
import { OtlpDecodeError } from '../../collector/errors.js';
import { Reader } from '../../collector/receivers/otlp/protobuf.js';

/** `v` as a protobuf varint. */
function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

describe('Reader.varint', () => {
  it('reads one-byte and longer values one after another', () => {
    const values = [0, 1, 0x7f, 0x80, 300, 16_383, 16_384, 2 ** 31, 2 ** 40 + 5];
    const body = Buffer.from(values.flatMap(varint));
    const r = new Reader(body);
    for (const v of values) expect(r.varint(body.length)).toBe(v);
    expect(r.pos).toBe(body.length);
  });

  it('refuses a value that reaches past the end it is given, one byte or more', () => {
    const body = Buffer.from([0x05, 0x96, 0x01]);
    expect(() => new Reader(body).varint(0)).toThrow(OtlpDecodeError);
    const r = new Reader(body);
    r.pos = 1;
    expect(() => r.varint(2)).toThrow(/truncated varint/);
    r.pos = 1;
    expect(r.varint(3)).toBe(150);
  });
});
