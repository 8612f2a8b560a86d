import { describe, expect, it } from 'vitest';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { FinishedSpan, SCOPE } from '../../../proxy/tracing/finished-span.js';
import { OtlpTraceEncoder } from '../../../proxy/tracing/otlp-encoder.js';
import { encodeWireSpan, wireRecordBounds, type SpanFacts } from '../../../proxy/tracing/wire-span.js';

/** The spans of a transport string as the export thread builds them. */
function finishedSpans(transport: string, resource: Resource): FinishedSpan[] {
  const bytes = new Uint8Array(Buffer.from(transport));
  const bounds = wireRecordBounds(bytes);
  const out: FinishedSpan[] = [];
  for (let i = 0; i < bounds.length; i += 2) out.push(new FinishedSpan(bytes, bounds[i]!, bounds[i + 1]!, resource));
  return out;
}

describe('span transport between threads', () => {
  it('round-trips spans, typed attributes included, and neutralizes framing characters', () => {
    type Facts = SpanFacts & { attributes: Record<string, string | number | boolean> };
    const a: Facts = {
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
    const b: Facts = { ...a, name: 'router app egress', kind: 2, spanId: 'abcdefabcdefabcd', parentSpanId: '1234567890123456', parentIsRemote: false, traceState: '', error: true, attributes: {} };
    const [da, db] = finishedSpans(encodeWireSpan(a) + encodeWireSpan(b), resourceFromAttributes({})).map((s) => s.wire());
    const { '\u001dA': framed, ...plain } = a.attributes;
    // Times arrive as the SDK's HrTime of the epoch milliseconds.
    const { startMs: _sa, endMs: _ea, ...aRest } = a;
    const { startMs: _sb, endMs: _eb, ...bRest } = b;
    const times = { startTime: [1_764_000_000, 123_500_000], endTime: [1_764_000_000, 130_000_000] };
    expect(da).toEqual({ ...aRest, ...times, attributes: { ...plain, 'user_agent.original': 'a b c', ' A': framed } });
    expect(db).toEqual({ ...bRest, ...times });
  });
});

describe('OTLP encoding of transport records', () => {
  it('is byte for byte what the SDK protobuf serializer makes of the same spans', () => {
    const base: SpanFacts & { attributes: Record<string, string | number | boolean> } = {
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
    const spans: Array<typeof base> = [
      base,
      { ...base, spanId: 'c7ad6b7169203331', parentSpanId: '00f067aa0ba902b7', parentIsRemote: true, traceState: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
      { ...base, name: 'router app → egress', kind: 2, spanId: 'd7ad6b7169203331', parentSpanId: 'b7ad6b7169203331', error: true, startMs: 0.5, endMs: 4_102_444_800_000.999 },
      { ...base, spanId: 'e7ad6b7169203331', attributes: { 'user_agent.original': 'curl/8 é', 'guid:x-request-id': 'x'.repeat(200), big: 'y'.repeat(20_000), flag: true, off: false, ratio: 0.25, zero: 0, empty: '' } },
      // Under 128 bytes: a one-byte length prefix.
      { ...base, spanId: 'f7ad6b7169203331', name: 'i', attributes: {} },
    ];
    // Every value type the resource may carry: string, integer, double, boolean.
    const resourceAttributes = { 'service.name': 'reviews', 'service.instance.id': 'sidecar-1', 'process.pid': 4242, 'mesh.weight': 0.5, 'mesh.enabled': true, 'mesh.canary': false };
    const resource = resourceFromAttributes(resourceAttributes);
    const records = finishedSpans(spans.map(encodeWireSpan).join(''), resource);
    const sdk = ProtobufTraceSerializer.serializeRequest(records)!;
    const ours = new OtlpTraceEncoder(resourceAttributes, SCOPE).encode(records);
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(sdk).toString('hex'));
    // The encoder reuses its buffer: a second, smaller request is encoded as freshly.
    const one = new OtlpTraceEncoder(resourceAttributes, SCOPE);
    one.encode(records);
    expect(Buffer.from(one.encode(records.slice(0, 1)))).toEqual(Buffer.from(ProtobufTraceSerializer.serializeRequest(records.slice(0, 1))!));
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
