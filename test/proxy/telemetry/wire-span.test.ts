import { describe, expect, it } from 'vitest';
import { decodeWireSpans, encodeWireSpan, type WireSpan } from '../../../proxy/tracing/wire-span.js';

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
    const [da, db] = decodeWireSpans(encodeWireSpan(a) + encodeWireSpan(b));
    const { '\u001dA': framed, ...plain } = a.attributes;
    expect(da).toEqual({ ...a, attributes: { ...plain, 'user_agent.original': 'a b c', ' A': framed } });
    expect(db).toEqual(b);
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
