// The gRPC helpers the proxy shares (proxy/core/grpc): grpc-timeout parsing as Envoy reads it,
// grpc-message percent-encoding, the content types that are gRPC, the HTTP → gRPC status map,
// and the frame counter fed every stream at every byte split.
import { describe, expect, it } from 'vitest';
import {
  httpToGrpcStatus,
  isGrpcContentType,
  parseGrpcTimeout,
  percentEncodeGrpcMessage,
} from '../../../proxy/core/grpc/common.js';
import { encodeTrailerFrame, GrpcFrameCounter } from '../../../proxy/core/grpc/frame.js';
import { HeaderMap } from '../../../proxy/core/http/headers.js';

const timeout = (v: string): number | null => {
  const h = new HeaderMap();
  h.add('grpc-timeout', v);
  return parseGrpcTimeout(h);
};

describe('gRPC helpers', () => {
  it('grpc-timeout: every unit, rounded up to whole milliseconds; malformed values are none', () => {
    expect([timeout('1H'), timeout('2M'), timeout('3S'), timeout('250m'), timeout('1500u'), timeout('1n')]).toEqual([
      3_600_000, 120_000, 3000, 250, 2, 1,
    ]);
    expect([timeout('99999999m'), timeout('123456789m'), timeout('1x'), timeout('m'), timeout('-1S')]).toEqual([
      99_999_999,
      null,
      null,
      null,
      null,
    ]);
  });

  it('grpc-message keeps printable ASCII and percent-encodes the rest as UTF-8', () => {
    expect(percentEncodeGrpcMessage('no healthy upstream')).toBe('no healthy upstream');
    expect(percentEncodeGrpcMessage('100% ok\nnext é')).toBe('100%25 ok%0Anext %C3%A9');
  });

  it('gRPC content types: application/grpc and +codec, not gRPC-Web', () => {
    expect(
      ['application/grpc', 'application/grpc+proto', 'application/grpc-web', 'application/grpcx', undefined].map(
        isGrpcContentType,
      ),
    ).toEqual([true, true, false, false, false]);
  });

  it("maps HTTP statuses as Envoy's httpToGrpcStatus does", () => {
    expect([400, 401, 403, 404, 429, 502, 503, 504, 500, 200].map(httpToGrpcStatus)).toEqual([
      13, 16, 7, 12, 14, 14, 14, 14, 2, 2,
    ]);
  });

  it('counts frames across every split of the stream', () => {
    const frame = (n: number, flag = 0): Buffer => {
      const b = Buffer.alloc(5 + n, 7);
      b[0] = flag;
      b.writeUInt32BE(n, 1);
      return b;
    };
    const stream = Buffer.concat([frame(0), frame(3), frame(300), encodeTrailerFrame(['grpc-status'], ['0'])]);
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 7) {
        const c = new GrpcFrameCounter();
        c.inspect(stream.subarray(0, a));
        c.inspect(stream.subarray(a, b));
        c.inspect(stream.subarray(b));
        expect(c.count, `split at ${a}/${b}`).toBe(4);
      }
    }
  });
});
