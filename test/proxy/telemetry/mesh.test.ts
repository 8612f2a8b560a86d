// End to end: client → outbound sidecar (A) → inbound sidecar (B) → app1 (OpenTelemetry Node
// SDK) → app1's outbound sidecar (C) → app2. Every hop's span must reach the receiver with the
// right parent, in a W3C world (OTLP tracer, W3C app) and a B3 world (Zipkin tracer, B3 app);
// the headers each app receives are checked, as are Istio metrics, access logs and OTLP logs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAttribute, type SpanRecord } from '../../../collector/receivers/otlp/model.js';
import {
  bootstrap,
  closeServer,
  freePort,
  ISTIO_STATS,
  listen,
  listener,
  otelTracing,
  request,
  startSidecar,
  staticCluster,
  TelemetryReceiver,
  tmpDir,
  waitFor,
  zipkinTracing,
  type Sidecar,
  type ZipkinSpan,
} from './helpers.js';

const APP = resolve(import.meta.dirname, 'fixtures/traced-app.cjs');
const SERVER = 2;
const CLIENT = 3;

interface World {
  receiver: TelemetryReceiver;
  sidecars: Sidecar[];
  app1: ChildProcess | null;
  app2: ReturnType<typeof createServer>;
  app2Headers: IncomingHttpHeaders[];
  ports: {
    a: number;
    b: number;
    c: number;
    app1: number;
    app2: number;
    adminA: number;
    adminB: number;
    adminC: number;
  };
  accessLog: string;
}

async function startApp1(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [APP], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((res, rej) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m !== null) res(Number(m[1]));
    });
    proc.once('exit', () => rej(new Error(`app1 exited: ${out}`)));
  });
  return { proc, port };
}

async function startWorld(kind: 'w3c' | 'b3'): Promise<World> {
  const receiver = new TelemetryReceiver();
  await receiver.start();
  const app2Headers: IncomingHttpHeaders[] = [];
  const app2 = createServer((req, res) => {
    app2Headers.push(req.headers);
    res.end('app2');
  });
  const app2Port = await listen(app2);
  const [a, b, c, adminA, adminB, adminC, app1Port] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const ports = {
    a: a!,
    b: b!,
    c: c!,
    adminA: adminA!,
    adminB: adminB!,
    adminC: adminC!,
    app1: app1Port!,
    app2: app2Port,
  };
  const accessLog = join(tmpDir, `${kind}-inbound.log`);
  const tracing = kind === 'w3c' ? otelTracing : () => zipkinTracing();
  const world: World = { receiver, sidecars: [], app1: null, app2, app2Headers, ports, accessLog };

  const app = await startApp1({
    PORT: String(ports.app1),
    OTLP_URL: `http://127.0.0.1:${receiver.port}/v1/traces`,
    DOWNSTREAM_URL: `http://127.0.0.1:${ports.c}/call`,
    PROPAGATOR: kind,
    SERVICE_NAME: 'app1',
  });
  world.app1 = app.proc;

  const collector = staticCluster('collector', receiver.port);
  world.sidecars.push(
    await startSidecar(
      `${kind}-a`,
      bootstrap(
        'client-1',
        'client',
        ports.adminA,
        [
          listener({
            name: 'egress',
            port: ports.a,
            direction: 'OUTBOUND',
            cluster: 'outbound|80||app1.default.svc.cluster.local',
            tracing: tracing('client'),
            httpFilters: [ISTIO_STATS],
          }),
        ],
        [staticCluster('outbound|80||app1.default.svc.cluster.local', ports.b), collector],
        { NAMESPACE: 'default', WORKLOAD_NAME: 'client', LABELS: { app: 'client', version: 'v1' } },
      ),
    ),
  );
  world.sidecars.push(
    await startSidecar(
      `${kind}-b`,
      bootstrap(
        'app1-1',
        'app1',
        ports.adminB,
        [
          listener({
            name: 'ingress',
            port: ports.b,
            direction: 'INBOUND',
            cluster: 'inbound|80||',
            tracing: {
              ...tracing('app1-sidecar'),
              custom_tags: [
                { tag: 'mesh', literal: { value: 'meshscope' } },
                { tag: 'tenant', request_header: { name: 'X-Tenant', default_value: 'none' } },
                { tag: 'pod', environment: { name: 'MESHSCOPE_TEST_POD', default_value: 'unknown' } },
              ],
            },
            httpFilters: [ISTIO_STATS],
            accessLog: [
              {
                name: 'envoy.access_loggers.file',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                  path: accessLog,
                  log_format: {
                    text_format_source: {
                      inline_string: '%RESPONSE_CODE% %TRACE_ID% %REQ(:PATH)% %UPSTREAM_CLUSTER% %START_TIME(%s)%\n',
                    },
                  },
                },
              },
              {
                name: 'envoy.access_loggers.open_telemetry',
                typed_config: {
                  '@type':
                    'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig',
                  common_config: { log_name: 'app1-inbound', transport_api_version: 'V3' },
                  http_service: { http_uri: { uri: 'http://collector/v1/logs', cluster: 'collector', timeout: '1s' } },
                  body: { string_value: '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%' },
                  attributes: { values: [{ key: 'response_code', value: { string_value: '%RESPONSE_CODE%' } }] },
                },
              },
            ],
          }),
        ],
        [staticCluster('inbound|80||', ports.app1), collector],
        { NAMESPACE: 'default', WORKLOAD_NAME: 'app1', LABELS: { app: 'app1', version: 'v2' } },
      ),
      [],
      { OTEL_BLRP_SCHEDULE_DELAY: '100', MESHSCOPE_TEST_POD: 'app1-7d9f' },
    ),
  );
  world.sidecars.push(
    await startSidecar(
      `${kind}-c`,
      bootstrap(
        'app1-1',
        'app1',
        ports.adminC,
        [
          listener({
            name: 'egress',
            port: ports.c,
            direction: 'OUTBOUND',
            cluster: 'outbound|80||app2.default.svc.cluster.local',
            tracing: tracing('app1-sidecar'),
          }),
        ],
        [staticCluster('outbound|80||app2.default.svc.cluster.local', ports.app2), collector],
      ),
    ),
  );
  return world;
}

async function stopWorld(world: World | undefined): Promise<void> {
  if (world === undefined) return;
  await Promise.all(world.sidecars.map((s) => s.stop()));
  if (world.app1 !== null && world.app1.exitCode === null) {
    await new Promise<void>((res) => {
      world.app1!.once('exit', () => res());
      world.app1!.kill('SIGTERM');
    });
  }
  await closeServer(world.app2);
  await world.receiver.stop();
}

function attr(span: SpanRecord, key: string): string | undefined {
  return findAttribute(span.attributes, key);
}

function promtoolProblems(text: string): string[] {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l !== '' &&
        !/should have "_total" suffix|should not have "_total" suffix|use base unit "seconds" instead of "milliseconds"/.test(
          l,
        ),
    );
}

describe('W3C world: OTLP tracers, W3C-instrumented app', () => {
  let world: World | undefined;
  beforeAll(async () => {
    world = await startWorld('w3c');
  });
  afterAll(async () => {
    await stopWorld(world);
  });

  it('links every hop parent to child and delivers the right headers to each app', async () => {
    const w = world!;
    const res = await request(w.ports.a, '/checkout?item=1', [
      ['host', 'app1.default.svc.cluster.local'],
      ['user-agent', 'mesh-test/1'],
      ['x-tenant', 'acme'],
    ]);
    expect(res.status, res.body).toBe(200);
    const { received, downstream } = JSON.parse(res.body) as {
      received: IncomingHttpHeaders;
      downstream: { status: number };
    };
    expect(downstream.status).toBe(200);

    // Spans: A (CLIENT, client), B (SERVER, app1-sidecar), app1 SERVER + CLIENT, C (CLIENT, app1-sidecar).
    const spans = await waitFor('five spans', () => (w.receiver.spans.length >= 5 ? w.receiver.spans : undefined));
    const traceIds = new Set(spans.map((s) => s.traceId));
    expect(traceIds.size).toBe(1);
    const bySvc = (svc: string, kind: number) => spans.filter((s) => s.resource.serviceName === svc && s.kind === kind);
    const a = bySvc('client', CLIENT)[0]!;
    const b = bySvc('app1-sidecar', SERVER)[0]!;
    const appServer = bySvc('app1', SERVER)[0]!;
    const appClient = bySvc('app1', CLIENT)[0]!;
    const c = bySvc('app1-sidecar', CLIENT)[0]!;
    for (const s of [a, b, appServer, appClient, c]) expect(s).toBeDefined();
    expect(a.parentSpanId).toBe('');
    expect(b.parentSpanId).toBe(a.spanId);
    expect(appServer.parentSpanId).toBe(b.spanId);
    expect(appClient.parentSpanId).toBe(appServer.spanId);
    expect(c.parentSpanId).toBe(appClient.spanId);

    // Semantic-convention attributes on the proxies' spans.
    expect(attr(b, 'http.request.method')).toBe('GET');
    expect(attr(b, 'url.path')).toBe('/checkout');
    expect(attr(b, 'http.response.status_code')).toBe('200');
    expect(attr(b, 'user_agent.original')).toBe('mesh-test/1');
    expect(attr(b, 'server.address')).toBe('app1.default.svc.cluster.local');
    expect(attr(b, 'upstream_cluster')).toBe('inbound|80||');
    expect(attr(b, 'node_id')).toBe('app1-1');
    expect(attr(b, 'response_flags')).toBe('-');
    // The protocol the request arrived on (the service graph marks edges with it).
    expect([attr(b, 'network.protocol.name'), attr(b, 'network.protocol.version')]).toEqual(['http', '1.1']);
    expect(attr(b, 'rpc.system')).toBeUndefined();
    expect(attr(b, 'guid:x-request-id')).toBe(received['x-request-id']);
    expect(attr(a, 'peer.service')).toBe('outbound|80||app1.default.svc.cluster.local');
    // custom_tags on B: literal, request header, environment.
    expect([attr(b, 'mesh'), attr(b, 'tenant'), attr(b, 'pod')]).toEqual(['meshscope', 'acme', 'app1-7d9f']);
    expect(attr(a, 'mesh')).toBeUndefined();
    expect(attr(a, 'upstream.address')).toBe(`127.0.0.1:${w.ports.b}`);

    // app1 got B's span as parent in W3C only (Envoy's OpenTelemetry tracer injects no B3), and
    // no peer metadata.
    expect(received['traceparent']).toBe(`00-${b.traceId}-${b.spanId}-01`);
    for (const name of ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'b3']) expect(received[name]).toBeUndefined();
    expect(received['x-envoy-peer-metadata']).toBeUndefined();
    expect(received['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // app2 got C's span as parent.
    expect(w.app2Headers[0]!['traceparent']).toBe(`00-${c.traceId}-${c.spanId}-01`);
  });

  it('honours an unsampled decision end to end and forces with x-envoy-force-trace', async () => {
    const w = world!;
    const before = w.receiver.spans.length;
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const res = await request(w.ports.a, '/unsampled', [['traceparent', `00-${trace}-b7ad6b7169203331-00`]]);
    const { received } = JSON.parse(res.body) as { received: IncomingHttpHeaders };
    expect(received['traceparent']).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-00$`));
    expect(w.app2Headers.at(-1)!['traceparent']).toMatch(/-00$/);

    const forced = await request(w.ports.a, '/forced', [
      ['traceparent', `00-${'1'.repeat(32)}-b7ad6b7169203331-00`],
      ['x-envoy-force-trace', 'true'],
    ]);
    expect((JSON.parse(forced.body) as { received: IncomingHttpHeaders }).received['traceparent']).toMatch(/-01$/);
    const forcedSpan = await waitFor('the forced span', () =>
      w.receiver.spans.find((s) => s.traceId === '1'.repeat(32)),
    );
    expect(forcedSpan.kind).toBe(CLIENT);
    expect(w.receiver.spans.slice(before).some((s) => s.traceId === trace)).toBe(false);
  });

  it('records Istio metrics on both reporters and they pass promtool', async () => {
    const w = world!;
    const [a, b] = w.sidecars;
    const source = await a!.admin('/stats/prometheus');
    const dest = await b!.admin('/stats/prometheus');
    expect(source).toMatch(
      /istio_requests_total\{reporter="source",source_workload="client",source_workload_namespace="default",[^}]*source_app="client",source_version="v1",[^}]*destination_workload="app1",[^}]*destination_version="v2",[^}]*destination_service="app1\.default\.svc\.cluster\.local",destination_service_name="app1",destination_service_namespace="default",[^}]*request_protocol="http",response_code="200",[^}]*response_flags="-",connection_security_policy="unknown"\} [1-9]/,
    );
    expect(dest).toMatch(
      /istio_requests_total\{reporter="destination",source_workload="client",[^}]*destination_workload="app1",[^}]*response_code="200",[^}]*connection_security_policy="none"\} [1-9]/,
    );
    expect(dest).toMatch(/istio_request_duration_milliseconds_bucket\{reporter="destination",[^}]*le="\+Inf"\} [1-9]/);
    expect(dest).toContain('# TYPE istio_request_bytes histogram');
    expect(dest).toContain('# TYPE istio_response_bytes histogram');
    expect(dest).toContain('envoy_tracing_opentelemetry_spans_sent');
    expect(promtoolProblems(source)).toEqual([]);
    expect(promtoolProblems(dest)).toEqual([]);
    // No label value comes from the request: a spoofed peer header from the client is replaced.
    await request(w.ports.a, '/spoof', [
      ['x-envoy-peer-metadata', Buffer.from(JSON.stringify({ WORKLOAD_NAME: 'evil' })).toString('base64')],
    ]);
    expect(await b!.admin('/stats/prometheus')).not.toContain('evil');
    // As Istio's metadata exchange: the inbound sidecar answers with its identity only to a
    // peer that announced one; a client without a sidecar gets no mesh-internal headers.
    const plain = await request(w.ports.b, '/no-sidecar', []);
    expect(plain.status).toBe(200);
    expect(plain.headers['x-envoy-peer-metadata']).toBeUndefined();
    expect(plain.headers['x-envoy-peer-metadata-id']).toBeUndefined();
    const announced = await request(w.ports.b, '/sidecar', [
      [
        'x-envoy-peer-metadata',
        Buffer.from(JSON.stringify({ WORKLOAD_NAME: 'client', NAMESPACE: 'default' })).toString('base64'),
      ],
      ['x-envoy-peer-metadata-id', 'client-1'],
    ]);
    expect(
      JSON.parse(Buffer.from(String(announced.headers['x-envoy-peer-metadata']), 'base64').toString()).WORKLOAD_NAME,
    ).toBe('app1');
    expect(announced.headers['x-envoy-peer-metadata-id']).toBe('app1-1');
  });

  it('writes access logs with the trace id and exports OTLP logs joined to the span', async () => {
    const w = world!;
    const line = await waitFor('an access log line', () => {
      try {
        const lines = readFileSync(w.accessLog, 'utf8')
          .split('\n')
          .filter((l) => l.includes('/checkout'));
        return lines[0];
      } catch {
        return undefined;
      }
    });
    const [code, traceId, path, cluster, startS] = line.split(' ');
    expect(code).toBe('200');
    expect(path).toBe('/checkout?item=1');
    expect(cluster).toBe('inbound|80||');
    expect(Number(startS)).toBeGreaterThan(1_600_000_000);
    const inbound = w.receiver.spans.find(
      (s) => s.traceId === traceId && s.kind === SERVER && attr(s, 'node_id') === 'app1-1',
    );
    expect(inbound).toBeDefined();
    const log = await waitFor('an OTLP log for /checkout', () =>
      w.receiver.logs.find((l) => l.body.includes('/checkout')),
    );
    expect(log.body).toBe('GET /checkout?item=1 200');
    expect(log.traceId).toBe(traceId);
    expect(log.spanId).toBe(inbound!.spanId);
    expect(findAttribute(log.attributes, 'response_code')).toBe('200');
  });
});

describe('B3 world: Zipkin tracers, B3-instrumented app', () => {
  let world: World | undefined;
  beforeAll(async () => {
    world = await startWorld('b3');
  });
  afterAll(async () => {
    await stopWorld(world);
  });

  it('links every hop through B3 and keeps the incoming trace', async () => {
    const w = world!;
    const trace = '463ac35c9f6413ad48485a3953bb6124';
    const res = await request(w.ports.a, '/b3', [
      ['x-b3-traceid', trace],
      ['x-b3-spanid', 'a2fb4a1d1a96d312'],
      ['x-b3-sampled', '1'],
    ]);
    expect(res.status, res.body).toBe(200);
    const { received } = JSON.parse(res.body) as { received: IncomingHttpHeaders };
    const zipkin = await waitFor('three proxy spans', () =>
      w.receiver.zipkin.filter((s) => s.traceId === trace).length >= 3 ? w.receiver.zipkin : undefined,
    );
    const otlp = await waitFor('two app spans', () =>
      w.receiver.spans.filter((s) => s.traceId === trace).length >= 2 ? w.receiver.spans : undefined,
    );
    const z = (svc: string, kind: string): ZipkinSpan =>
      zipkin.find((s) => s.traceId === trace && s.localEndpoint?.serviceName === svc && s.kind === kind)!;
    const a = z('client', 'CLIENT');
    const b = z('app1', 'SERVER');
    const c = z('app1', 'CLIENT');
    const appServer = otlp.find((s) => s.traceId === trace && s.kind === SERVER)!;
    const appClient = otlp.find((s) => s.traceId === trace && s.kind === CLIENT)!;
    expect(a.parentId).toBe('a2fb4a1d1a96d312');
    expect(b.parentId).toBe(a.id);
    expect(appServer.parentSpanId).toBe(b.id);
    expect(appClient.parentSpanId).toBe(appServer.spanId);
    expect(c.parentId).toBe(appClient.spanId);

    expect(received['x-b3-traceid']).toBe(trace);
    expect(received['x-b3-spanid']).toBe(b.id);
    expect(received['x-b3-parentspanid']).toBe(a.id);
    expect(received['x-b3-sampled']).toBe('1');
    const app2 = w.app2Headers.at(-1)!;
    expect(app2['x-b3-traceid']).toBe(trace);
    expect(app2['x-b3-spanid']).toBe(c.id);
    expect(app2['x-b3-sampled']).toBe('1');
  });

  it('propagates B3 single and an unsampled decision without ever sending x-b3-sampled: 0 for sampled', async () => {
    const w = world!;
    const trace = '80f198ee56343ba864fe8b2a57d3eff7';
    const res = await request(w.ports.a, '/b3single', [['b3', `${trace}-e457b5a2e4d86bd1-0-05e3ac9a4f6e3b90`]]);
    const { received } = JSON.parse(res.body) as { received: IncomingHttpHeaders };
    expect(received['b3']).toMatch(new RegExp(`^${trace}-[0-9a-f]{16}-0-[0-9a-f]{16}$`));
    expect(received['x-b3-sampled']).toBe('0');
    // Envoy's Zipkin tracer injects B3 only (trace_context_option USE_B3).
    expect(received['traceparent']).toBeUndefined();
    const sampled = await request(w.ports.a, '/b3d', [['b3', `${trace.replace('8', '9')}-e457b5a2e4d86bd1-d`]]);
    const r2 = (JSON.parse(sampled.body) as { received: IncomingHttpHeaders }).received;
    expect(r2['x-b3-flags']).toBe('1');
    expect(r2['x-b3-sampled']).toBeUndefined();
    expect(r2['b3']).toMatch(/-d-[0-9a-f]{16}$/);
  });
});
