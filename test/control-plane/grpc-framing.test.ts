// The xDS server's gRPC message framing: whole messages handed over in order however the DATA
// chunks cut them (several in one chunk, one across chunks, a prefix split), read in place when
// a chunk starts on a boundary, and a compressed or oversized message refused.
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameDecoderError, frame } from '../../control-plane/xds/grpc-framing.js';

const text = (...ms: Buffer[]): string[] => ms.map((m) => m.toString());

function collect(d: FrameDecoder, chunk: Buffer, out: Buffer[]): void {
  d.push(chunk, (m) => {
    out.push(m);
    return true;
  });
}

describe('gRPC frame decoder', () => {
  it('hands over each whole message once, however the chunks cut them', () => {
    const a = frame(Buffer.from('alpha'));
    const b = frame(Buffer.from(''));
    const c = frame(Buffer.from('gamma-gamma'));
    const all = Buffer.concat([a, b, c]);
    // Every way of cutting the stream in two, and byte by byte.
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const out: Buffer[] = [];
      collect(d, all.subarray(0, cut), out);
      collect(d, all.subarray(cut), out);
      expect(text(...out)).toEqual(['alpha', '', 'gamma-gamma']);
    }
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i++) collect(d, all.subarray(i, i + 1), out);
    expect(text(...out)).toEqual(['alpha', '', 'gamma-gamma']);
  });

  it('reads a chunk that starts on a boundary in place, and stops when told to', () => {
    const chunk = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two')), frame(Buffer.from('three'))]);
    const d = new FrameDecoder();
    const seen: Buffer[] = [];
    d.push(chunk, (m) => {
      seen.push(m);
      return seen.length < 2;
    });
    expect(text(...seen)).toEqual(['one', 'two']);
    expect(seen[0]!.buffer).toBe(chunk.buffer);
    // The rest waits for the next chunk.
    const later: Buffer[] = [];
    collect(d, Buffer.alloc(0), later);
    expect(text(...later)).toEqual(['three']);
  });

  it('refuses a compressed or oversized message after handing over the ones before it', () => {
    const ok = frame(Buffer.from('fine'));
    const compressed = Buffer.from(ok);
    compressed[0] = 1;
    const out: Buffer[] = [];
    expect(() => collect(new FrameDecoder(), Buffer.concat([ok, compressed]), out)).toThrow(FrameDecoderError);
    expect(text(...out)).toEqual(['fine']);
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(5 * 1024 * 1024, 1);
    expect(() => collect(new FrameDecoder(), huge, [])).toThrow(/exceeds/);
  });
});
