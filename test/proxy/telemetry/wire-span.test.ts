import { describe, expect, it } from 'vitest';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { FinishedSpan, SCOPE } from '../../../proxy/tracing/finished-span.js';
import { OtlpTraceEncoder } from '../../../proxy/tracing/otlp-encoder.js';
import { decodeWireSpan, encodeWireSpan, splitWireRecords, type WireSpan } from '../../../proxy/tracing/wire-span.js';

describe('span transport between threads', () => {
  it('round-trips spans, typed attributes included, and neutralizes framing characters', () => {
    const a: WireSpan = {
      name: 'ingress',
      kind: 1,
      traceId: '12345678901234567890123456789012',
      spanId: '1234567890123456',
      parentSpanId: '',
      parentIsRemote: true,
      traceState: 'foo=1,bar=2',
      startMs: 1_764_000_000_123.5,
      endMs: 1_764_000_000_130,
      error: false,
      attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, 'user_agent.original': 'a\u001fb\u001ec', flag: true, empty: '', custom: 'x', '\u001dA': 'not a known key' },
    };
    const b: WireSpan = { ...a, name: 'router app egress', kind: 2, spanId: 'abcdefabcdefabcd', parentSpanId: '1234567890123456', parentIsRemote: false, traceState: '', error: true, attributes: {} };
    const [da, db] = splitWireRecords(encodeWireSpan(a) + encodeWireSpan(b)).map(decodeWireSpan);
    const { '\u001dA': framed, ...plain } = a.attributes;
    expect(da).toEqual({ ...a, attributes: { ...plain, 'user_agent.original': 'a b c', ' A': framed } });
    expect(db).toEqual(b);
  });
});

describe('OTLP encoding of transport records', () => {
  it('is byte for byte what the SDK protobuf serializer makes of the same spans', () => {
    const base: WireSpan = {
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
    const spans: WireSpan[] = [
      base,
      { ...base, spanId: 'c7ad6b7169203331', parentSpanId: '00f067aa0ba902b7', parentIsRemote: true, traceState: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
      { ...base, name: 'router app → egress', kind: 2, spanId: 'd7ad6b7169203331', parentSpanId: 'b7ad6b7169203331', error: true, startMs: 0.5, endMs: 4_102_444_800_000.999 },
      { ...base, spanId: 'e7ad6b7169203331', attributes: { 'user_agent.original': 'curl/8 é', 'guid:x-request-id': 'x'.repeat(200), big: 'y'.repeat(20_000), flag: true, off: false, ratio: 0.25, zero: 0, empty: '' } },
    ];
    const resourceAttributes = { 'service.name': 'reviews', 'service.instance.id': 'sidecar-1' };
    const resource = resourceFromAttributes(resourceAttributes);
    const records = splitWireRecords(spans.map(encodeWireSpan).join(''));
    const sdk = ProtobufTraceSerializer.serializeRequest(records.map((r) => new FinishedSpan(r, resource)))!;
    const ours = new OtlpTraceEncoder(resourceAttributes, SCOPE).encode(records);
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(sdk).toString('hex'));
    // The encoder reuses its buffer: a second, smaller request is encoded as freshly.
    const one = new OtlpTraceEncoder(resourceAttributes, SCOPE);
    one.encode(records);
    expect(Buffer.from(one.encode(records.slice(0, 1)))).toEqual(Buffer.from(ProtobufTraceSerializer.serializeRequest([new FinishedSpan(records[0]!, resource)])!));
  });
});

describe('access-log transport between threads', () => {
  it('round-trips log records with typed attributes', async () => {
    const { decodeWireLogs, encodeWireLog } = await import('../../../proxy/telemetry/otlp-logs/wire-log.js');
    const a = { timeMs: 1_764_000_000_000, traceId: '12345678901234567890123456789012', spanId: '1234567890123456', sampled: true, body: 'GET /x 200', attributes: { code: 200, path: '/x\u001e' } };
    const b = { timeMs: 1, traceId: '', spanId: '', sampled: false, body: '', attributes: {} };
    expect(decodeWireLogs(encodeWireLog(a) + encodeWireLog(b))).toEqual([{ ...a, attributes: { code: 200, path: '/x ' } }, b]);
  });
});
