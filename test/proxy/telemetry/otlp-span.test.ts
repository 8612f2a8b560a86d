import { describe, expect, it } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { FinishedSpan } from '../../../proxy/tracing/finished-span.js';
import {
  attributeKey,
  beginSpan,
  boolAttribute,
  decodeSpans,
  endSpan,
  numberAttribute,
  OtlpTraceRequestFramer,
  SCOPE,
  StringAttributeCache,
  stringAttribute,
  type DecodedSpan,
  type SpanHead,
} from '../../../proxy/tracing/otlp-span.js';
import { ProtoWriter } from '../../../proxy/telemetry/proto-writer.js';

type Fixture = SpanHead & {
  parentIsRemote: boolean;
  error: boolean;
  attributes: Record<string, string | number | boolean>;
};

/** The spans as the request thread writes them into an export batch. */
function writeBatch(spans: readonly Fixture[], w = new ProtoWriter(64)): Uint8Array {
  for (const s of spans) {
    const lengthAt = beginSpan(w, s);
    for (const [k, v] of Object.entries(s.attributes)) {
      if (typeof v === 'string') stringAttribute(w, attributeKey(k), v);
      else if (typeof v === 'number') numberAttribute(w, attributeKey(k), v);
      else boolAttribute(w, attributeKey(k), v);
    }
    endSpan(w, lengthAt, s.error, s.parentIsRemote);
  }
  return new Uint8Array(w.buf.subarray(0, w.pos));
}

/** The same span as the SDK would hold it, built from the fixture without our decoder. */
function expected(s: Fixture): DecodedSpan {
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    parentIsRemote: s.parentIsRemote,
    traceState: s.traceState,
    startTime: millisToHrTime(s.startMs),
    endTime: millisToHrTime(s.endMs),
    error: s.error,
    attributes: s.attributes,
  };
}

const base: Fixture = {
  name: 'ingress',
  kind: 1,
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: '',
  parentIsRemote: false,
  traceState: '',
  startMs: 1_764_000_000_123.456,
  endMs: 1_764_000_000_125,
  error: false,
  attributes: {
    'http.request.method': 'GET',
    'url.path': '/api/x',
    'http.response.status_code': 200,
    'network.peer.address': '127.0.0.1',
    node_id: 'sidecar-1',
    component: 'proxy',
  },
};

const spans: Fixture[] = [
  base,
  {
    ...base,
    spanId: 'c7ad6b7169203331',
    parentSpanId: '00f067aa0ba902b7',
    parentIsRemote: true,
    traceState: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
  },
  {
    ...base,
    name: 'router app → egress',
    kind: 2,
    spanId: 'd7ad6b7169203331',
    parentSpanId: 'b7ad6b7169203331',
    error: true,
    startMs: 0.5,
    endMs: 4_102_444_800_000.999,
  },
  // Non-ASCII text (its UTF-8 length differs from its length), lengths either side of one
  // byte, a span over 16 KB (a 3-byte length prefix), every value type.
  {
    ...base,
    spanId: 'e7ad6b7169203331',
    attributes: {
      'user_agent.original': 'curl/8 é',
      'guid:x-request-id': 'x'.repeat(200),
      big: 'y'.repeat(20_000),
      wide: 'ü'.repeat(50),
      wider: 'ü'.repeat(100),
      edge: 'z'.repeat(117),
      edge2: 'z'.repeat(118),
      flag: true,
      off: false,
      ratio: 0.25,
      negative: -3,
      zero: 0,
      empty: '',
    },
  },
  // Under 128 bytes: a one-byte length prefix.
  { ...base, spanId: 'f7ad6b7169203331', name: 'i', attributes: {} },
];

describe('OTLP spans written by the request thread', () => {
  it('are byte for byte what the SDK protobuf serializer makes of the same spans', () => {
    // Every value type the resource may carry: string, integer, double, boolean.
    const resourceAttributes: Attributes = {
      'service.name': 'reviews',
      'service.instance.id': 'sidecar-1',
      'process.pid': 4242,
      'mesh.weight': 0.5,
      'mesh.enabled': true,
      'mesh.canary': false,
    };
    const resource = resourceFromAttributes(resourceAttributes);
    const framer = new OtlpTraceRequestFramer(resourceAttributes, SCOPE);
    const sdk = (list: Fixture[]): string =>
      Buffer.from(
        ProtobufTraceSerializer.serializeRequest(list.map((s) => new FinishedSpan(expected(s), resource)))!,
      ).toString('hex');
    expect(Buffer.from(framer.frame(writeBatch(spans))).toString('hex')).toBe(sdk(spans));
    expect(Buffer.from(framer.frame(writeBatch(spans.slice(4)))).toString('hex')).toBe(sdk(spans.slice(4)));
    // Ids this process made are written from their bytes where they lie (an id pool), not their hex.
    const pool = Buffer.alloc(1024);
    let at = 3;
    const place = (hex: string): [Buffer, number] => {
      const from = at;
      at += pool.write(hex, from, 'hex') + 5;
      return [pool, from];
    };
    const fromBytes = spans.map((s): Fixture => {
      const [traceIdBytes, traceIdAt] = place(s.traceId);
      const [spanIdBytes, spanIdAt] = place(s.spanId);
      const [parentSpanIdBytes, parentSpanIdAt] = s.parentSpanId === '' ? [null, 0] : place(s.parentSpanId);
      return { ...s, traceIdBytes, traceIdAt, spanIdBytes, spanIdAt, parentSpanIdBytes, parentSpanIdAt };
    });
    expect(Buffer.from(framer.frame(writeBatch(fromBytes))).toString('hex')).toBe(sdk(spans));
  });

  it('are framed in place, in the room the export pipeline leaves ahead of them, into the same bytes', () => {
    const resourceAttributes: Attributes = { 'service.name': 'reviews', 'service.instance.id': 'sidecar-1' };
    const framer = new OtlpTraceRequestFramer(resourceAttributes, SCOPE);
    const copied = Buffer.from(framer.frame(writeBatch(spans))).toString('hex');
    const w = new ProtoWriter(64);
    w.pos = framer.maxPrefixLength;
    writeBatch(spans, w);
    const batch = new Uint8Array(
      w.buf.buffer,
      w.buf.byteOffset + framer.maxPrefixLength,
      w.pos - framer.maxPrefixLength,
    );
    const request = framer.frame(batch);
    expect(request.buffer).toBe(batch.buffer);
    expect(request.byteOffset + request.length).toBe(batch.byteOffset + batch.length);
    expect(Buffer.from(request).toString('hex')).toBe(copied);
  });

  it('string attributes from a cache are the bytes stringAttribute writes, first use, repeated and past its bound', () => {
    const key = attributeKey('upstream_cluster');
    const cache = new StringAttributeCache(key);
    const values = ['outbound|8080||catalog', 'GET', 'héllo wörld', 'x'.repeat(200), ''];
    // 300 distinct values: the cache keeps 256 and writes the rest the ordinary way.
    for (let i = 0; i < 300; i++) values.push(`cluster-${i}`);
    const cached = new ProtoWriter(8);
    const plain = new ProtoWriter(8);
    for (const _round of [1, 2]) {
      for (const v of values) {
        cache.write(cached, v);
        stringAttribute(plain, key, v);
      }
    }
    expect(cached.pos).toBe(plain.pos);
    expect(cached.buf.subarray(0, cached.pos).equals(plain.buf.subarray(0, plain.pos))).toBe(true);
  });

  it('decode back to the spans written (for the gRPC and Zipkin exporters), from a buffer that grew while writing', () => {
    // A 64-byte writer grows many times over these spans; what was written stays intact.
    expect(decodeSpans(writeBatch(spans))).toEqual(spans.map(expected));
  });
});

describe('access-log transport between threads', () => {
  it('round-trips log records with typed attributes', async () => {
    const { decodeWireLogs, encodeWireLog } = await import('../../../proxy/telemetry/otlp-logs/wire-log.js');
    const a = {
      timeMs: 1_764_000_000_000,
      traceId: '12345678901234567890123456789012',
      spanId: '1234567890123456',
      sampled: true,
      body: 'GET /x 200',
      attributes: { code: 200, path: '/x\u001e' },
    };
    const b = { timeMs: 1, traceId: '', spanId: '', sampled: false, body: '', attributes: {} };
    expect(decodeWireLogs(encodeWireLog(a) + encodeWireLog(b))).toEqual([
      { ...a, attributes: { code: 200, path: '/x ' } },
      b,
    ]);
  });
});
