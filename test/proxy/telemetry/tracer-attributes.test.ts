// The tracer writes the attributes that repeat from span to span as one run encoded once per
// combination of values (tracer.ts, RepeatedRun). These spans change one of those values at a
// time, back and forth, and every span must still carry exactly its own values: a run reused for
// other values would show here as a stale method, status code, cluster, host or flag.
import { describe, expect, it } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import { ResponseFlag, StreamInfo } from '../../../proxy/core/stream-info.js';
import { ProtoWriter } from '../../../proxy/telemetry/proto-writer.js';
import { decodeSpans } from '../../../proxy/tracing/otlp-span.js';
import type { SpanPipeline } from '../../../proxy/tracing/span-pipeline.js';
import { MeshTracer } from '../../../proxy/tracing/tracer.js';

interface Request {
  method?: string;
  authority: string;
  userAgent?: string;
  code: number;
  flags?: number;
  cluster: string | null;
  host: string | null;
  peer: string;
}

function tracer(direction: 'INBOUND' | 'OUTBOUND', w: ProtoWriter): MeshTracer {
  // The pipeline's writing half only: the spans stay in `w` to be decoded.
  const pipeline = { beginRecord: () => w, endRecord: () => {} } as unknown as SpanPipeline;
  return new MeshTracer({
    nodeId: 'sidecar-1',
    direction,
    injectFormats: 1,
    sampling: { randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100 },
    spawnUpstreamSpan: false,
    maxPathTagLength: 256,
    customTags: [],
    pipeline,
  });
}

function finish(t: MeshTracer, r: Request): void {
  const info = new StreamInfo('l', r.peer, 40000, '10.0.0.1', 8080);
  const h = new HeaderMap();
  if (r.method !== undefined) h.add(':method', r.method);
  h.add(':path', '/items?id=1');
  h.add(':authority', r.authority);
  h.add(':scheme', 'http');
  if (r.userAgent !== undefined) h.add('user-agent', r.userAgent);
  info.requestHeaders = h;
  const span = t.startSpan(info, h, 'ingress');
  info.responseCode = r.code;
  info.responseFlags = r.flags ?? 0;
  info.upstreamCluster = r.cluster;
  info.upstreamHost = r.host;
  info.durationMs = 1;
  span.finishSpan(info, null);
}

function expected(r: Request, client: boolean): Attributes {
  const a: Attributes = {
    'url.path': '/items',
    'url.scheme': 'http',
    'server.address': r.authority.slice(0, r.authority.lastIndexOf(':')),
    'network.protocol.name': 'http',
    'network.protocol.version': '1.1',
    'network.peer.address': r.peer,
    response_flags: r.flags === undefined ? '-' : 'UF',
    node_id: 'sidecar-1',
    component: 'proxy',
  };
  if (r.method !== undefined) a['http.request.method'] = r.method;
  if (r.userAgent !== undefined) a['user_agent.original'] = r.userAgent;
  if (r.code > 0) a['http.response.status_code'] = r.code;
  if (r.cluster !== null) {
    a['upstream_cluster'] = r.cluster;
    if (client) a['peer.service'] = r.cluster;
  }
  if (r.host !== null) a['upstream.address'] = r.host;
  return a;
}

const base: Request = {
  method: 'GET',
  authority: 'reviews:9080',
  userAgent: 'curl/8',
  code: 200,
  cluster: 'outbound|9080||reviews',
  host: '10.1.0.5:9080',
  peer: '10.0.0.9',
};

const requests: Request[] = [
  base,
  base,
  { ...base, code: 503 },
  base,
  { ...base, method: 'POST' },
  { ...base, method: undefined },
  { ...base, host: '10.1.0.6:9080' },
  base,
  { ...base, cluster: 'outbound|9080||ratings' },
  { ...base, flags: ResponseFlag.UpstreamConnectionFailure, code: 503 },
  base,
  { ...base, host: null, cluster: null, code: 0 },
  { ...base, authority: 'ratings:9080', userAgent: undefined, peer: '10.0.0.10' },
  base,
];

describe('span attributes written by the tracer', () => {
  for (const direction of ['INBOUND', 'OUTBOUND'] as const) {
    it(`carry each span's own values while the repeating ones change (${direction})`, () => {
      const w = new ProtoWriter(64);
      const t = tracer(direction, w);
      for (const r of requests) finish(t, r);
      const spans = decodeSpans(new Uint8Array(w.buf.subarray(0, w.pos)));
      expect(spans.map((s) => s.attributes)).toEqual(requests.map((r) => expected(r, direction === 'OUTBOUND')));
    });
  }

  it('keep a client-chosen method of any length, however many there are', () => {
    const w = new ProtoWriter(64);
    const t = tracer('INBOUND', w);
    const methods = Array.from({ length: 300 }, (_, i) => `M${i}`.padEnd(i % 2 === 0 ? 4 : 200, 'X'));
    for (const method of methods) finish(t, { ...base, method });
    const spans = decodeSpans(new Uint8Array(w.buf.subarray(0, w.pos)));
    expect(spans.map((s) => s.attributes['http.request.method'])).toEqual(methods);
  });
});
