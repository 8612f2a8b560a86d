// A front proxy (no traffic direction) makes a SERVER span and a CLIENT span per upstream
// attempt; 5xx answers and proxy-made errors mark spans ERROR with the response flags.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAttribute, type SpanRecord } from '../../../collector/receivers/otlp/model.js';
import {
  bootstrap,
  closeServer,
  freePort,
  listen,
  otelTracing,
  request,
  startSidecar,
  staticCluster,
  TelemetryReceiver,
  waitFor,
  type Sidecar,
} from './helpers.js';

const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

let receiver: TelemetryReceiver;
let proxy: Sidecar;
let port = 0;
const seen: IncomingHttpHeaders[] = [];
const app = createServer((req, res) => {
  seen.push(req.headers);
  res.statusCode = req.url === '/fail' ? 503 : 200;
  res.end('x');
});

beforeAll(async () => {
  receiver = new TelemetryReceiver();
  await receiver.start();
  const appPort = await listen(app);
  const [p, admin, dead] = await Promise.all([freePort(), freePort(), freePort()]);
  port = p;
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'front',
    tracing: otelTracing('front-proxy'),
    route_config: {
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/dead' }, route: { cluster: 'dead' } },
            { match: { prefix: '/' }, route: { cluster: 'app' }, decorator: { operation: 'shop-frontend' } },
          ],
        },
      ],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  };
  proxy = await startSidecar(
    'front',
    bootstrap(
      'front-1',
      'front',
      admin!,
      [
        {
          name: 'front',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
        },
      ],
      [staticCluster('app', appPort), staticCluster('dead', dead!), staticCluster('collector', receiver.port)],
    ),
  );
});

afterAll(async () => {
  await proxy?.stop();
  await closeServer(app);
  await receiver.stop();
});

function spansOf(trace: string): SpanRecord[] {
  return receiver.spans.filter((s) => s.traceId === trace);
}

describe('front proxy spans', () => {
  it('SERVER span named by the route decorator, CLIENT child per attempt, upstream sees the child', async () => {
    const trace = 'aaaabbbbccccddddeeeeffff00001111';
    expect((await request(port, '/ok', [['traceparent', `00-${trace}-1111222233334444-01`]])).status).toBe(200);
    const spans = await waitFor('two spans', () => (spansOf(trace).length >= 2 ? spansOf(trace) : undefined));
    const server = spans.find((s) => s.kind === SERVER)!;
    const client = spans.find((s) => s.kind === CLIENT)!;
    expect(server.name).toBe('shop-frontend');
    expect(server.parentSpanId).toBe('1111222233334444');
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.name).toBe('router app egress');
    expect(server.resource.serviceName).toBe('front-proxy');
    expect(seen.at(-1)!['traceparent']).toBe(`00-${trace}-${client.spanId}-01`);
    expect(server.statusCode).not.toBe(STATUS_ERROR);
  });

  it('marks 5xx and proxy-made errors ERROR, with response flags', async () => {
    const failTrace = '0123456789abcdef0123456789abcdef';
    expect((await request(port, '/fail', [['traceparent', `00-${failTrace}-1111222233334444-01`]])).status).toBe(503);
    const deadTrace = 'fedcba9876543210fedcba9876543210';
    expect((await request(port, '/dead', [['traceparent', `00-${deadTrace}-1111222233334444-01`]])).status).toBe(503);
    const fail = await waitFor('the 503 spans', () =>
      spansOf(failTrace).length >= 2 ? spansOf(failTrace) : undefined,
    );
    expect(fail.every((s) => s.statusCode === STATUS_ERROR)).toBe(true);
    expect(findAttribute(fail.find((s) => s.kind === SERVER)!.attributes, 'http.response.status_code')).toBe('503');
    const dead = await waitFor('the UF span', () => spansOf(deadTrace).find((s) => s.kind === SERVER));
    expect(dead.statusCode).toBe(STATUS_ERROR);
    expect(findAttribute(dead.attributes, 'response_flags')).toContain('UF');
  });
});
