// envoy.filters.http.ext_authz through the real proxy against real authorization services: a
// node:http server (http_service) and a @grpc/grpc-js server implementing
// envoy.service.auth.v3.Authorization/Check from Envoy's own proto (grpc_service). Checked as
// Envoy documents the filter: allowed requests carry the service's headers upstream, denied ones
// get the service's status, headers and body with flag UAEX, a failing service answers
// status_on_error unless failure_mode_allow, with_request_body sends the body, a route can
// disable the check, and the counters live under http.<stat_prefix>.ext_authz.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigInvalidError, validateBootstrap } from '../../../proxy/index.js';
import { protoIncludeDirs } from '../../../proxy/xds/proto/envoy-api.js';
import { bootstrapFor, cluster, request, testFixtures } from '../resilience/harness.js';
import { startUpstreams } from '../resilience/upstreams.js';

const { proxy, cleanups } = testFixtures();
const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const H2_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const extAuthz = (config: Record<string, unknown>) => ({
  name: 'envoy.filters.http.ext_authz',
  typed_config: { '@type': EXT_AUTHZ_TYPE, ...config },
});

interface SeenCheck {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An HTTP authorization service: `Bearer good` → 200 (+x-user), `/boom` → 500, anything else → 401. */
async function startHttpAuthz(): Promise<{ port: number; seen: SeenCheck[]; close(): Promise<void> }> {
  const seen: SeenCheck[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url!.includes('/boom')) {
        res.writeHead(500).end('authz broke');
        return;
      }
      if (req.headers.authorization === 'Bearer good') {
        res.writeHead(200, { 'x-user': 'alice', 'x-internal': 'secret' }).end();
        return;
      }
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="shop"', 'x-reason': 'bad-token' }).end('who are you?');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface CheckCall {
  attributes: {
    request: { http: { method: string; path: string; headers: Record<string, string>; body: string } };
    context_extensions: Record<string, string>;
    source: { address: { socket_address: { address: string } } };
  };
}

/** A gRPC Authorization service: x-allow: yes → OK (+x-user header upstream); else PERMISSION_DENIED with a 418. */
async function startGrpcAuthz(): Promise<{ port: number; calls: CheckCall[]; close(): Promise<void> }> {
  const definition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    includeDirs: protoIncludeDirs(),
    enums: String,
    defaults: false,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  const calls: CheckCall[] = [];
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check(call: grpc.ServerUnaryCall<CheckCall, unknown>, callback: grpc.sendUnaryData<unknown>) {
      calls.push(call.request);
      const headers = call.request.attributes.request.http.headers;
      if (headers['x-allow'] === 'yes') {
        callback(null, {
          status: { code: 0 },
          ok_response: {
            headers: [{ header: { key: 'x-user', value: 'grpc-bob' } }],
            headers_to_remove: ['x-allow'],
            response_headers_to_add: [{ header: { key: 'x-authz', value: 'checked' } }],
          },
        });
        return;
      }
      if (headers['x-allow'] === 'fail') {
        callback({ code: grpc.status.UNAVAILABLE, details: 'policy store down' });
        return;
      }
      callback(null, {
        status: { code: 7 },
        denied_response: {
          status: { code: 'Forbidden' },
          headers: [{ header: { key: 'x-denied-by', value: 'grpc-authz' } }],
          body: 'denied by policy',
        },
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err === null ? resolve(p) : reject(err),
    ),
  );
  return { port, calls, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}

const h2 = {
  typed_extension_protocol_options: {
    [H2_OPTIONS]: {
      '@type': `type.googleapis.com/${H2_OPTIONS}`,
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

describe('envoy.filters.http.ext_authz', () => {
  let httpAuthz: Awaited<ReturnType<typeof startHttpAuthz>>;
  let grpcAuthz: Awaited<ReturnType<typeof startGrpcAuthz>>;

  beforeAll(async () => {
    httpAuthz = await startHttpAuthz();
    grpcAuthz = await startGrpcAuthz();
  });
  afterAll(async () => {
    await httpAuthz?.close();
    await grpcAuthz?.close();
  });

  it('http_service: allows with the service headers upstream, denies with its answer and UAEX, fails closed on a 5xx', async () => {
    const [app] = await startUpstreams('app');
    cleanups.push(() => app!.stop());
    const p = await proxy({
      clusters: [cluster('app', [app!.port]), cluster('authz', [httpAuthz.port])],
      httpFilters: [
        extAuthz({
          http_service: {
            server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '2s' },
            path_prefix: '/check',
            authorization_request: { allowed_headers: { patterns: [{ exact: 'x-tenant' }] } },
            authorization_response: { allowed_upstream_headers: { patterns: [{ exact: 'x-user' }] } },
          },
          with_request_body: { max_request_bytes: 1024, allow_partial_message: true },
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/public' },
              route: { cluster: 'app' },
              typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE_TYPE, disabled: true } },
            },
            { match: { prefix: '/' }, route: { cluster: 'app' } },
          ],
        },
      ],
    });

    const ok = await request(p.port, '/orders?id=7', {
      method: 'POST',
      headers: {
        authorization: 'Bearer good',
        'x-tenant': 'acme',
        'x-other': 'not-sent',
        'content-type': 'text/plain',
      },
      body: 'order body',
    });
    expect(ok.status).toBe(200);
    const check = httpAuthz.seen.at(-1)!;
    expect(check.method).toBe('POST');
    expect(check.url).toBe('/check/orders?id=7');
    expect(check.headers['x-tenant']).toBe('acme');
    expect(check.headers['x-other']).toBeUndefined();
    expect(check.body).toBe('order body');
    const upstream = app!.seen.at(-1)!;
    expect(upstream.headers['x-user']).toBe('alice');
    expect(upstream.headers['x-internal']).toBeUndefined();
    expect(upstream.body).toBe('order body');

    const denied = await request(p.port, '/orders', { headers: { authorization: 'Bearer bad' } });
    expect(denied.status).toBe(401);
    expect(denied.body).toBe('who are you?');
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="shop"');
    const before = app!.count;

    const broken = await request(p.port, '/boom', { headers: { authorization: 'Bearer good' } });
    expect(broken.status).toBe(403);
    expect(app!.count).toBe(before);

    // The route that disables the check never reaches the service.
    const checks = httpAuthz.seen.length;
    expect((await request(p.port, '/public/catalog')).status).toBe(200);
    expect(httpAuthz.seen.length).toBe(checks);

    const stats = await p.stats();
    expect(stats.get('http.ingress_http.ext_authz.ok')).toBe(1);
    expect(stats.get('http.ingress_http.ext_authz.denied')).toBe(1);
    expect(stats.get('http.ingress_http.ext_authz.error')).toBe(1);
    expect(stats.get('http.ingress_http.ext_authz.disabled')).toBe(1);
    const lines = await p.logLines(4);
    expect(lines.filter((l) => / UAEX /.test(l))).toHaveLength(2);
  });

  it('grpc_service: a real Authorization/Check server decides; errors honour failure_mode_allow and status_on_error', async () => {
    const [app] = await startUpstreams('app');
    cleanups.push(() => app!.stop());
    const spec = (failOpen: boolean) => ({
      clusters: [cluster('app', [app!.port]), cluster('authz-grpc', [grpcAuthz.port], h2)],
      httpFilters: [
        extAuthz({
          grpc_service: { envoy_grpc: { cluster_name: 'authz-grpc' }, timeout: '2s' },
          transport_api_version: 'V3',
          failure_mode_allow: failOpen,
          failure_mode_allow_header_add: failOpen,
          status_on_error: { code: 'ServiceUnavailable' },
          stat_prefix: 'policy',
        }),
      ],
      virtualHosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              route: { cluster: 'app' },
              typed_per_filter_config: {
                'envoy.filters.http.ext_authz': {
                  '@type': PER_ROUTE_TYPE,
                  check_settings: { context_extensions: { route: 'catch-all' } },
                },
              },
            },
          ],
        },
      ],
    });
    const closed = await proxy(spec(false));
    const ok = await request(closed.port, '/cart', { headers: { 'x-allow': 'yes' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-authz']).toBe('checked');
    const seen = app!.seen.at(-1)!;
    expect(seen.headers['x-user']).toBe('grpc-bob');
    expect(seen.headers['x-allow']).toBeUndefined();
    const call = grpcAuthz.calls.at(-1)!;
    expect(call.attributes.request.http.method).toBe('GET');
    expect(call.attributes.request.http.path).toBe('/cart');
    expect(call.attributes.request.http.headers[':authority']).toBeDefined();
    expect(call.attributes.context_extensions).toEqual({ route: 'catch-all' });
    expect(call.attributes.source.address.socket_address.address).toBe('127.0.0.1');

    const denied = await request(closed.port, '/cart');
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('denied by policy');
    expect(denied.headers['x-denied-by']).toBe('grpc-authz');

    const failed = await request(closed.port, '/cart', { headers: { 'x-allow': 'fail' } });
    expect(failed.status).toBe(503);
    const stats = await closed.stats();
    expect(stats.get('http.ingress_http.ext_authz.policy.ok')).toBe(1);
    expect(stats.get('http.ingress_http.ext_authz.policy.denied')).toBe(1);
    expect(stats.get('http.ingress_http.ext_authz.policy.error')).toBe(1);

    const open = await proxy(spec(true));
    const through = await request(open.port, '/cart', { headers: { 'x-allow': 'fail' } });
    expect(through.status).toBe(200);
    expect(app!.seen.at(-1)!.headers['x-envoy-auth-failure-mode-allowed']).toBe('true');
    expect(await open.stat('http.ingress_http.ext_authz.policy.failure_mode_allowed')).toBe(1);
  });

  it('refuses bad config with the path of the field', () => {
    const config = (typed: Record<string, unknown>) =>
      bootstrapFor({ clusters: [], httpFilters: [extAuthz(typed)], virtualHosts: [] }, '/dev/null');
    const at = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config';
    expect(() => validateBootstrap(config({}))).toThrow(ConfigInvalidError);
    expect(() => validateBootstrap(config({}))).toThrow(/exactly one of grpc_service, http_service/);
    expect(() => validateBootstrap(config({ grpc_service: { google_grpc: { target_uri: 'x' } } }))).toThrow(
      new RegExp(`${at.replaceAll(/[.[\]]/g, '\\$&')}\\.grpc_service`),
    );
    expect(() =>
      validateBootstrap(
        config({ grpc_service: { envoy_grpc: { cluster_name: 'a' } }, status_on_error: { code: 'Teapot' } }),
      ),
    ).toThrow(/status_on_error\.code.*not an envoy\.type\.v3\.StatusCode/);
    expect(() =>
      validateBootstrap(config({ http_service: { server_uri: { uri: 'http://a', cluster: 'a' } } })),
    ).toThrow(/server_uri\.timeout/);
  });
});
