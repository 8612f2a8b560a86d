// gRPC as Envoy treats it, through the real proxy with @grpc/grpc-js on both sides: local replies
// to gRPC requests are trailers-only gRPC responses (NR → UNIMPLEMENTED, UF/UH/UT → UNAVAILABLE,
// RBAC → PERMISSION_DENIED), `match.grpc` routes only gRPC, `grpc-timeout` is honoured (capped,
// offset) through max_stream_duration as DEADLINE_EXCEEDED, retry_on names gRPC statuses found
// in a trailers-only head or in the trailers, and the access log prints %GRPC_STATUS%.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap, freePort, request, ROUTER, startTestProxy, staticCluster, type RunningProxy } from '../helpers.js';
import {
  echoClient,
  H2_UPSTREAM,
  startEchoServer,
  unary,
  waitFor,
  type EchoClient,
  type EchoServer,
} from './fixtures.js';

let echo: EchoServer;
let proxy: RunningProxy;
let client: EchoClient;
let logPath: string;

const RL_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const byHeader = (value: string) => ({ prefix: '/', headers: [{ name: 'x-route', exact_match: value }] });

beforeAll(async () => {
  echo = await startEchoServer();
  logPath = join(await mkdtemp(join(tmpdir(), 'grpc-log-')), 'access.log');
  const deadPort = await freePort();
  proxy = await startTestProxy(
    bootstrap({
      admin: true,
      hcm: {
        http_protocol_options: { enable_trailers: true },
        http_filters: [
          {
            name: 'envoy.filters.http.rbac',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
              rules: {
                action: 'DENY',
                policies: {
                  forbidden: {
                    permissions: [{ header: { name: 'x-route', exact_match: 'forbidden' } }],
                    principals: [{ any: true }],
                  },
                },
              },
            },
          },
          {
            name: 'envoy.filters.http.local_ratelimit',
            typed_config: { '@type': RL_TYPE, stat_prefix: 'http_local' },
          },
          ROUTER,
        ],
        access_log: [
          {
            name: 'envoy.access_loggers.file',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
              path: logPath,
              log_format: {
                text_format:
                  '%REQ(X-ROUTE)% %RESPONSE_CODE% %RESPONSE_FLAGS% %GRPC_STATUS% %GRPC_STATUS(NUMBER)% %GRPC_STATUS(SNAKE_STRING)%\n',
              },
            },
          },
        ],
      },
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            {
              match: { ...byHeader('offset'), grpc: {} },
              route: {
                cluster: 'echo',
                max_stream_duration: { grpc_timeout_header_max: '0s', grpc_timeout_header_offset: '1s' },
              },
            },
            {
              match: { ...byHeader('cap'), grpc: {} },
              route: { cluster: 'echo', max_stream_duration: { grpc_timeout_header_max: '0.3s' } },
            },
            { match: { ...byHeader('timeout'), grpc: {} }, route: { cluster: 'echo', timeout: '0.3s' } },
            { match: byHeader('dead'), route: { cluster: 'dead' } },
            {
              match: byHeader('limited'),
              route: { cluster: 'echo' },
              typed_per_filter_config: {
                'envoy.filters.http.local_ratelimit': {
                  '@type': RL_TYPE,
                  stat_prefix: 'route_local',
                  token_bucket: { max_tokens: 1, fill_interval: '60s' },
                  filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
                  filter_enforced: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
                },
              },
            },
            { match: byHeader('empty'), route: { cluster: 'empty' } },
            {
              match: { ...byHeader('retry'), grpc: {} },
              route: { cluster: 'echo', retry_policy: { retry_on: 'unavailable,cancelled', num_retries: 2 } },
            },
            { match: { prefix: '/test.Echo/', grpc: {} }, route: { cluster: 'echo' } },
            { match: { prefix: '/test.Echo/' }, direct_response: { status: 200, body: { inline_string: 'not grpc' } } },
          ],
        },
      ],
      clusters: [
        staticCluster({ name: 'echo', ports: [echo.port], extra: H2_UPSTREAM }),
        staticCluster({ name: 'dead', ports: [deadPort], extra: H2_UPSTREAM }),
        staticCluster({ name: 'empty', ports: [], extra: H2_UPSTREAM }),
      ],
    }),
  );
  client = echoClient(proxy.port);
});

afterAll(async () => {
  client?.close();
  await proxy?.close();
  echo?.close();
});

async function stat(name: string): Promise<number> {
  const admin = proxy.server.adminAddress()!;
  const text = await (await fetch(`http://127.0.0.1:${admin.port}/stats?filter=${encodeURIComponent(name)}`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}: `));
  return line === undefined ? 0 : Number(line.slice(name.length + 2));
}

describe('local replies to gRPC requests are gRPC', () => {
  it('no route (NR) is UNIMPLEMENTED in a trailers-only response', async () => {
    const md = new grpc.Metadata();
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/other.Service/Missing',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from('x'),
        md,
        {},
        (e) => resolve(e!),
      ),
    );
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('a dead endpoint (UF), no endpoint (UH) and a route timeout (UT) are UNAVAILABLE with their reason', async () => {
    const dead = await unary(client, 'ok', { 'x-route': 'dead' });
    expect(dead.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(dead.error?.details).toMatch(/^upstream connect error or disconnect\/reset before headers/);
    const empty = await unary(client, 'ok', { 'x-route': 'empty' });
    expect(empty.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(empty.error?.details).toBe('no healthy upstream');
    // Envoy's router timeout is a 504 local reply, which gRPC's HTTP mapping makes UNAVAILABLE.
    const slow = await unary(client, 'hang', { 'x-route': 'timeout' }, { deadline: Date.now() + 10_000 });
    expect(slow.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(slow.error?.details).toBe('upstream request timeout');
  });

  it('an RBAC denial (403) is PERMISSION_DENIED', async () => {
    const r = await unary(client, 'ok', { 'x-route': 'forbidden' });
    expect(r.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.error?.details).toBe('RBAC: access denied');
  });

  it('a local rate limit (429) is UNAVAILABLE, as Envoy maps it by default', async () => {
    const first = await unary(client, 'ok', { 'x-route': 'limited' });
    expect(first.error).toBeNull();
    const limited = await unary(client, 'ok', { 'x-route': 'limited' });
    expect(limited.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(limited.error?.details).toBe('local_rate_limited');
  });

  it('an HTTP client still gets plain HTTP local replies', async () => {
    const r = await request(proxy.port, '/nowhere', { headers: { 'x-route': 'empty' } });
    expect(r.status).toBe(503);
    expect(r.headers['grpc-status']).toBeUndefined();
    expect(r.body).toBe('no healthy upstream');
  });
});

/** A gRPC call made by hand over HTTP/1.1 (node:http), trailers read from the chunked end. */
function http1Call(text: string): Promise<{ status: number; body: Buffer; trailers: NodeJS.Dict<string> }> {
  const msg = Buffer.from(text);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxy.port,
        path: '/test.Echo/Echo',
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), trailers: res.trailers }),
        );
      },
    );
    req.on('error', reject);
    req.end(frame);
  });
}

describe('an HTTP/1.1 client with enable_trailers', () => {
  it('gets the status and trailing metadata in chunked trailers, failures included', async () => {
    const ok = await http1Call('h1');
    expect(ok.status).toBe(200);
    expect(ok.body.subarray(5).toString()).toBe('echo:h1:');
    expect(ok.trailers).toMatchObject({ 'grpc-status': '0', 'x-trailer': 't1' });
    const late = await http1Call('trailer-unavailable:h1');
    expect(late.trailers['grpc-status']).toBe('14');
    expect(late.trailers['grpc-message']).toBe('late%20failure');
  });
});

describe('route match.grpc', () => {
  it('routes gRPC requests only: the same path over plain HTTP takes the next route', async () => {
    const ok = await unary(client, 'hello', { 'x-client': 'c1' });
    expect(ok.error).toBeNull();
    expect(ok.response?.toString()).toBe('echo:hello:c1');
    expect(ok.headers?.get('x-initial')).toEqual(['h1']);
    const plain = await request(proxy.port, '/test.Echo/Echo', { method: 'POST', body: 'x' });
    expect(plain.body).toBe('not grpc');
    const web = await request(proxy.port, '/test.Echo/Echo', {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web' },
      body: 'x',
    });
    expect(web.body).toBe('not grpc');
  });
});

describe('grpc-timeout through max_stream_duration', () => {
  it('grpc_timeout_header_offset: the proxy answers DEADLINE_EXCEEDED before the client gives up', async () => {
    const r = await unary(client, 'hang', { 'x-route': 'offset' }, { deadline: Date.now() + 2500 });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The proxy's reply, not the client's own deadline: it carries the proxy's message.
    expect(r.error?.details).toBe('downstream duration timeout');
  });

  it('grpc_timeout_header_max caps a longer client deadline', async () => {
    const before = await stat('http.ingress_http.downstream_rq_max_duration_reached');
    const r = await unary(client, 'hang', { 'x-route': 'cap' }, { deadline: Date.now() + 30_000 });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.error?.details).toBe('downstream duration timeout');
    expect(await stat('http.ingress_http.downstream_rq_max_duration_reached')).toBe(before + 1);
  });

  it('a call inside its deadline completes', async () => {
    const r = await unary(client, 'quick', { 'x-route': 'cap' }, { deadline: Date.now() + 30_000 });
    expect(r.error).toBeNull();
    expect(r.response?.toString()).toBe('echo:quick:');
  });
});

describe('retry_on gRPC statuses', () => {
  it('retries UNAVAILABLE from a trailers-only response', async () => {
    const before = await stat('cluster.echo.upstream_rq_retry');
    const r = await unary(client, 'head-unavailable:a', { 'x-route': 'retry' });
    expect(r.error).toBeNull();
    expect(r.response?.toString()).toBe('echo:head-unavailable:a:');
    expect(echo.calls.get('head-unavailable:a')).toBe(2);
    expect(await stat('cluster.echo.upstream_rq_retry')).toBe(before + 1);
  });

  it('retries UNAVAILABLE found in the trailers of a response whose head was already sent', async () => {
    const r = await unary(client, 'trailer-unavailable:b', { 'x-route': 'retry' });
    expect(r.error).toBeNull();
    expect(r.response?.toString()).toBe('echo:trailer-unavailable:b:');
    expect(echo.calls.get('trailer-unavailable:b')).toBe(2);
  });

  it('does not retry a status the policy does not name', async () => {
    const r = await unary(client, 'status:5', { 'x-route': 'retry' });
    expect(r.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(r.error?.metadata.get('x-trailer')).toEqual(['t1']);
    expect(echo.calls.get('status:5')).toBe(1);
  });

  it('without retry_on the failure goes to the client', async () => {
    const r = await unary(client, 'head-unavailable:c');
    expect(r.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.error?.details).toBe('try again');
  });
});

describe('%GRPC_STATUS% in access logs', () => {
  it('prints the status from trailers, a trailers-only head, or a local reply', async () => {
    // Earlier tests log through the 'empty' route too: read only what these three calls add,
    // or three old and new lines together could satisfy the wait before the access-log
    // thread has written the last call's line.
    const logged = await readFile(logPath).catch(() => Buffer.alloc(0));
    await unary(client, 'status:7', { 'x-route': 'log-trailers' });
    await unary(client, 'ok', { 'x-route': 'empty' });
    await unary(client, 'fine', { 'x-route': 'log-ok' });
    const lines = await waitFor('three access log lines', async () => {
      const text = (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(logged.length).toString('utf8');
      const found = text.split('\n').filter((l) => /^(log-trailers|empty|log-ok) /.test(l));
      return found.length >= 3 ? found : undefined;
    });
    expect(lines).toContain('log-trailers 200 - PermissionDenied 7 PERMISSION_DENIED');
    expect(lines).toContain('empty 200 UH Unavailable 14 UNAVAILABLE');
    expect(lines).toContain('log-ok 200 - OK 0 OK');
  });
});
