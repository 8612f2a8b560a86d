// The two span shapes bench:collector sends (and other benches may reuse): OTLP/HTTP protobuf
// bodies of SPANS_PER_BATCH spans each, encoded by the OpenTelemetry JS serializer.

import { randomUUID } from 'node:crypto';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export const SPANS_PER_BATCH = 512;
const DISTINCT_BODIES = 16;

/** 128 traces × 4 spans: frontend SERVER → frontend CLIENT → catalog SERVER → catalog CLIENT (db). */
export function makeSyntheticBodies(): Buffer[] {
  const exporter = new InMemorySpanExporter();
  const providers = ['frontend', 'catalog'].map(
    (service) =>
      new BasicTracerProvider({
        resource: resourceFromAttributes({
          'service.name': service,
          'service.version': '1.4.2',
          'host.name': `${service}-7d9f`,
        }),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      }),
  );
  const [fe, cat] = providers.map((p) => p.getTracer('meshscope-bench', '1.0.0')) as [
    ReturnType<BasicTracerProvider['getTracer']>,
    ReturnType<BasicTracerProvider['getTracer']>,
  ];
  const bodies: Buffer[] = [];
  for (let b = 0; b < DISTINCT_BODIES; b++) {
    exporter.reset();
    for (let t = 0; t < SPANS_PER_BATCH / 4; t++) {
      const root = fe.startSpan('GET /product/{id}', {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': 'GET',
          'url.path': `/product/${t}`,
          'http.route': '/product/{id}',
          'http.response.status_code': 200,
          'user_agent.original': 'k6/0.50',
        },
      });
      const rootCtx = trace.setSpan(context.active(), root);
      const call = fe.startSpan(
        'GET',
        {
          kind: SpanKind.CLIENT,
          attributes: { 'http.request.method': 'GET', 'server.address': 'catalog', 'server.port': 8080 },
        },
        rootCtx,
      );
      const served = cat.startSpan(
        'GET /items/{id}',
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': 'GET',
            'http.route': '/items/{id}',
            'http.response.status_code': t % 50 === 0 ? 500 : 200,
          },
        },
        trace.setSpan(context.active(), call),
      );
      const db = cat.startSpan(
        'SELECT items',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'db.system': 'postgresql',
            'db.name': 'catalog',
            'db.statement': 'SELECT * FROM items WHERE id = $1',
          },
        },
        trace.setSpan(context.active(), served),
      );
      db.end();
      if (t % 50 === 0) served.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failure' });
      served.end();
      call.end();
      root.end();
    }
    bodies.push(Buffer.from(ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans())!));
  }
  return bodies;
}

/**
 * Spans shaped like meshscope's own sidecars write them (proxy/tracing/tracer.ts): one
 * resource per request (one sidecar's export), each span with the proxy's attributes. The
 * frontend sidecar exports its inbound SERVER span and its egress CLIENT span per request;
 * the catalog sidecar its inbound SERVER span (pairs meet across requests, as in a mesh).
 */
export function makeSidecarBodies(): Buffer[] {
  const exporter = new InMemorySpanExporter();
  const tracerOf = (service: string) =>
    new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    }).getTracer('meshscope-proxy', '0.1.0');
  const fe = tracerOf('frontend');
  const cat = tracerOf('catalog');
  const common = (service: string, t: number, b: number) => ({
    'http.request.method': 'GET',
    'url.path': `/product/${(t * 7919 + b) % 1000}`,
    'url.scheme': 'http',
    'server.address': service,
    'user_agent.original': 'k6/0.50 (https://k6.io/)',
    'http.response.status_code': t % 50 === 0 ? 503 : 200,
    'network.peer.address': '127.0.0.1',
    'upstream.address': '127.0.0.1:8080',
    response_flags: t % 50 === 0 ? 'UF' : '-',
    'guid:x-request-id': randomUUID(),
    node_id: `sidecar~127.0.0.1~${service}-7d9f~default.svc.cluster.local`,
    component: 'proxy',
  });
  const bodies: Buffer[] = [];
  for (let b = 0; b < DISTINCT_BODIES; b++) {
    exporter.reset();
    const frontendSide = b % 2 === 0;
    for (let t = 0; t < (frontendSide ? SPANS_PER_BATCH / 2 : SPANS_PER_BATCH); t++) {
      if (frontendSide) {
        const inbound = fe.startSpan('ingress', {
          kind: SpanKind.SERVER,
          attributes: { ...common('frontend', t, b), upstream_cluster: 'inbound|8080||' },
        });
        const egress = fe.startSpan(
          'egress catalog',
          {
            kind: SpanKind.CLIENT,
            attributes: { ...common('catalog', t, b), upstream_cluster: 'catalog', 'peer.service': 'catalog' },
          },
          trace.setSpan(context.active(), inbound),
        );
        egress.end();
        inbound.end();
      } else {
        cat
          .startSpan('ingress', {
            kind: SpanKind.SERVER,
            attributes: { ...common('catalog', t, b), upstream_cluster: 'inbound|8080||' },
          })
          .end();
      }
    }
    bodies.push(Buffer.from(ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans())!));
  }
  return bodies;
}
