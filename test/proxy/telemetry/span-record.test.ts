import { describe, expect, it } from 'vitest';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import { ResponseFlag, StreamInfo } from '../../../proxy/core/stream-info.js';
import { ProtoWriter } from '../../../proxy/telemetry/proto-writer.js';
import {
  attributeKey,
  beginSpan,
  boolAttribute,
  decodeSpans,
  endSpan,
  numberAttribute,
  stringAttribute,
  type SpanHead,
} from '../../../proxy/tracing/otlp-span.js';
import {
  beginRaw,
  beginSpanRecord,
  endRaw,
  endSpanRecord,
  recordInt,
  recordString,
  SpanAttribute,
  spanRecordsToOtlp,
} from '../../../proxy/tracing/span-record.js';
import { MeshTracer } from '../../../proxy/tracing/tracer.js';
import type { SpanPipeline } from '../../../proxy/tracing/span-pipeline.js';

type Value = string | number | boolean;
type Fixture = SpanHead & { error: boolean; remoteParent: boolean; attributes: Array<[string, Value]> };

/** The record attributes by key, as the tracer writes them. */
const RECORD_ATTRIBUTES: Record<string, number> = {
  'http.request.method': SpanAttribute.Method,
  'url.path': SpanAttribute.Path,
  'url.scheme': SpanAttribute.Scheme,
  'server.address': SpanAttribute.ServerAddress,
  'user_agent.original': SpanAttribute.UserAgent,
  'http.response.status_code': SpanAttribute.StatusCode,
  'network.peer.address': SpanAttribute.PeerAddress,
  upstream_cluster: SpanAttribute.UpstreamCluster,
  'peer.service': SpanAttribute.PeerService,
  'upstream.address': SpanAttribute.UpstreamAddress,
  response_flags: SpanAttribute.ResponseFlags,
  'guid:x-request-id': SpanAttribute.RequestId,
};

function writeAttribute(w: ProtoWriter, k: string, v: Value): void {
  if (typeof v === 'string') stringAttribute(w, attributeKey(k), v);
  else if (typeof v === 'number') numberAttribute(w, attributeKey(k), v);
  else boolAttribute(w, attributeKey(k), v);
}

/** The spans as the request thread used to write them: OTLP, field by field. */
function otlpBatch(spans: readonly Fixture[]): string {
  const w = new ProtoWriter(64);
  for (const s of spans) {
    const lengthAt = beginSpan(w, s);
    for (const [k, v] of s.attributes) writeAttribute(w, k, v);
    endSpan(w, lengthAt, s.error, s.remoteParent);
  }
  return w.buf.subarray(0, w.pos).toString('hex');
}

/** The same spans as records (known attributes by number, the others as raw blocks), turned into OTLP. */
function recordBatch(spans: readonly Fixture[], out = new ProtoWriter(64)): string {
  const w = new ProtoWriter(64);
  for (const s of spans) {
    beginSpanRecord(w, s);
    for (const [k, v] of s.attributes) {
      const n = RECORD_ATTRIBUTES[k];
      if (n !== undefined && typeof v === 'string') recordString(w, n, v);
      else if (n !== undefined && typeof v === 'number') recordInt(w, n, v);
      else {
        const raw = beginRaw(w);
        writeAttribute(w, k, v);
        endRaw(w, raw);
      }
    }
    endSpanRecord(w, s.error, s.remoteParent);
  }
  const start = out.pos;
  spanRecordsToOtlp(new Uint8Array(w.buf.buffer, w.buf.byteOffset, w.pos), spans.length, out);
  return out.buf.subarray(start, out.pos).toString('hex');
}

const base: Fixture = {
  name: 'ingress',
  kind: 1,
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: '',
  traceState: '',
  startMs: 1_764_000_000_123.456,
  endMs: 1_764_000_000_125,
  error: false,
  remoteParent: false,
  attributes: [
    ['http.request.method', 'GET'],
    ['url.path', '/api/x'],
    ['url.scheme', 'http'],
    ['http.response.status_code', 200],
    ['network.peer.address', '127.0.0.1'],
    ['upstream_cluster', 'outbound|8080||catalog'],
    ['node_id', 'sidecar-1'],
    ['guid:x-request-id', '2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e'],
  ],
};

const spans: Fixture[] = [
  base,
  {
    ...base,
    spanId: 'c7ad6b7169203331',
    parentSpanId: '00F067AA0BA902B7',
    remoteParent: true,
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
    attributes: [...base.attributes, ['peer.service', 'outbound|8080||catalog'], ['response_flags', 'UF,URX']],
  },
  // Non-ASCII text, lengths either side of one byte, a span over 16 KB (a 3-byte length),
  // raw attributes of every type between the record's own.
  {
    ...base,
    spanId: 'e7ad6b7169203331',
    traceState: 'k='.padEnd(300, 'v'),
    attributes: [
      ['user_agent.original', 'curl/8 é'],
      ['guid:x-request-id', 'x'.repeat(200)],
      ['url.path', `/${'y'.repeat(20_000)}`],
      ['server.address', 'ü'.repeat(50)],
      ['flag', true],
      ['ratio', 0.25],
      ['negative', -3],
      ['upstream.address', 'ü'.repeat(100)],
      ['edge', 'z'.repeat(117)],
      ['http.response.status_code', 0],
      ['empty', ''],
      ['url.scheme', ''],
    ],
  },
  // Values either side of one-byte lengths (encoded key and value: 123 bytes) for attributes the record carries.
  {
    ...base,
    spanId: 'a7ad6b7169203331',
    attributes: [
      ['user_agent.original', 'u'.repeat(102)],
      ['user_agent.original', 'u'.repeat(103)],
      ['url.path', `/${'p'.repeat(112)}`],
      ['url.path', `/${'p'.repeat(113)}`],
    ],
  },
  { ...base, spanId: 'f7ad6b7169203331', name: 'i', attributes: [] },
];

/** Where two hex strings first differ ('same' if nowhere), with what each has there: a short failure message. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length && i === b.length ? 'same' : `byte ${i / 2}: ${a.slice(i, i + 24)} / ${b.slice(i, i + 24)}`;
}

describe('span records', () => {
  it('become the OTLP bytes the request thread used to write for the same spans', () => {
    expect(firstDifference(recordBatch(spans), otlpBatch(spans))).toBe('same');
    for (const s of spans) expect(firstDifference(recordBatch([s]), otlpBatch([s]))).toBe('same');
  });

  it('are appended after what the export thread reserved, into a buffer that grows', () => {
    const out = new ProtoWriter(16);
    out.pos = 7;
    expect(firstDifference(recordBatch(spans, out), otlpBatch(spans))).toBe('same');
  });

  it("carry what the tracer knows of a stream, in the order of the span's attributes", () => {
    const records = new ProtoWriter(64);
    let count = 0;
    const pipeline = { beginRecord: () => records, endRecord: () => void count++ } as unknown as SpanPipeline;
    const tracer = new MeshTracer({
      nodeId: 'sidecar-1',
      direction: 'OUTBOUND',
      injectFormats: 1,
      sampling: { randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100 },
      spawnUpstreamSpan: false,
      maxPathTagLength: 8,
      customTags: [
        { tag: 'team', kind: 'literal', value: 'checkout' },
        { tag: 'tenant', kind: 'request_header', name: 'x-tenant', defaultValue: 'none' },
      ],
      pipeline,
    });
    const headers = new HeaderMap();
    headers.add(':method', 'POST');
    headers.add(':path', '/reviews.Reviews/List?x=1');
    headers.add(':scheme', 'http');
    headers.add(':authority', 'reviews:9080');
    headers.add('user-agent', 'grpc-node/1.0');
    headers.add('content-type', 'application/grpc');
    headers.add('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const info = new StreamInfo('outbound', '10.0.0.7', 40000, '127.0.0.1', 15001);
    info.requestHeaders = headers;
    info.requestId = 'req-1';
    info.responseCode = 503;
    info.setResponseFlag(ResponseFlag.UpstreamConnectionFailure);
    info.upstreamCluster = 'outbound|9080||reviews';
    info.upstreamHost = '10.0.0.9:9080';
    info.durationMs = 1.5;
    const span = tracer.startSpan(info, headers, 'reviews');
    span.setTag('error.detail', 'connect refused');
    span.finishSpan(info, null);
    expect(count).toBe(1);
    const out = new ProtoWriter(64);
    spanRecordsToOtlp(new Uint8Array(records.buf.buffer, records.buf.byteOffset, records.pos), count, out);
    const [decoded] = decodeSpans(out.buf.subarray(0, out.pos));
    expect(decoded).toMatchObject({
      name: 'reviews',
      kind: 2,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
      parentSpanId: 'b7ad6b7169203331',
      parentIsRemote: true,
      error: true,
    });
    expect(Object.entries(decoded!.attributes)).toEqual([
      ['http.request.method', 'POST'],
      ['url.path', '/reviews'],
      ['url.scheme', 'http'],
      ['server.address', 'reviews'],
      ['user_agent.original', 'grpc-node/1.0'],
      ['rpc.system', 'grpc'],
      ['team', 'checkout'],
      ['tenant', 'none'],
      ['rpc.service', 'reviews.Reviews'],
      ['rpc.method', 'List'],
      ['rpc.grpc.status_code', 14],
      ['http.response.status_code', 503],
      ['network.protocol.name', 'http'],
      ['network.protocol.version', '1.1'],
      ['network.peer.address', '10.0.0.7'],
      ['upstream_cluster', 'outbound|9080||reviews'],
      ['peer.service', 'outbound|9080||reviews'],
      ['upstream.address', '10.0.0.9:9080'],
      ['response_flags', 'UF'],
      ['node_id', 'sidecar-1'],
      ['component', 'proxy'],
      ['guid:x-request-id', 'req-1'],
      ['error.detail', 'connect refused'],
    ]);
  });
});
