// A control plane that shares nothing with meshscope's codec: its gRPC service comes from
// Envoy's own ads.proto through @grpc/proto-loader, and every resource is encoded by protobufjs
// from Envoy's real .proto files (the ones @grpc/grpc-js-xds ships), as istiod or
// go-control-plane would send it. The WebSocket route is the case the hand-written protos got
// wrong: RouteAction.UpgradeConfig.enabled is field 2 (3 is connect_config), while the HCM's
// UpgradeConfig.enabled is field 3. The proxy must ACK and then behave as the bytes say
// (Envoy's docs: a route's upgrade_configs override the connection manager's per upgrade type).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ProxyServer } from '../../../proxy/index.js';
import { freePorts, waitFor } from '../../control-plane/helpers.js';
import { listenBacklog } from '../helpers.js';
import { configDump, startAdsProxy } from './helpers.js';

const require = createRequire(import.meta.url);
const DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(DEPS, d));
INCLUDE.push(path.dirname(require.resolve('protobufjs/package.json')));

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

/** Envoy's API as protobufjs types, loaded here independently of meshscope. */
function envoyRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const d of INCLUDE) if (fs.existsSync(path.join(d, target))) return path.join(d, target);
    return target;
  };
  root.loadSync(
    [
      'envoy/config/listener/v3/listener.proto',
      'envoy/config/cluster/v3/cluster.proto',
      'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
      'envoy/extensions/filters/http/router/v3/router.proto',
    ],
    { keepCase: true },
  );
  return root;
}

function any(
  root: protobuf.Root,
  typeName: string,
  object: Record<string, unknown>,
): { type_url: string; value: Buffer } {
  const type = root.lookupType(typeName);
  return {
    type_url: `type.googleapis.com/${typeName}`,
    value: Buffer.from(type.encode(type.fromObject(object)).finish()),
  };
}

interface Req {
  version_info?: string;
  type_url?: string;
  response_nonce?: string;
  error_detail?: { message?: string } | null;
}

let wsUpstream: WebSocketServer;
let server: grpc.Server;
let proxy: ProxyServer;
let port: number;
let admin: number;
const received: Req[] = [];

function resources(root: protobuf.Root, upstreamPort: number): { listener: object; cluster: object } {
  const router = any(root, 'envoy.extensions.filters.http.router.v3.Router', {});
  const hcm = any(root, 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
    stat_prefix: 'ws',
    upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: true } }],
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: router }],
    route_config: {
      name: 'ws',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            {
              match: { path: '/off' },
              route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: false } }] },
            },
            {
              match: { prefix: '/' },
              route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: true } }] },
            },
          ],
        },
      ],
    },
  });
  const listener = any(root, 'envoy.config.listener.v3.Listener', {
    name: 'ws',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    tcp_backlog_size: { value: 77 },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  });
  const cluster = any(root, 'envoy.config.cluster.v3.Cluster', {
    name: 'ws',
    type: 'STATIC',
    connect_timeout: { seconds: 1 },
    load_assignment: {
      cluster_name: 'ws',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } },
          ],
        },
      ],
    },
  });
  return { listener, cluster };
}

beforeAll(async () => {
  wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wsUpstream.on('connection', (socket) => socket.on('message', (m) => socket.send(`echo ${String(m)}`)));
  await new Promise<void>((r) => wsUpstream.once('listening', () => r()));
  [port, admin] = await freePorts(2);
  const root = envoyRoot();
  const { listener, cluster } = resources(root, (wsUpstream.address() as { port: number }).port);

  const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    oneofs: true,
    includeDirs: INCLUDE,
  });
  const api = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
  };
  server = new grpc.Server();
  server.addService(api.envoy.service.discovery.v3.AggregatedDiscoveryService.service, {
    StreamAggregatedResources: (stream: grpc.ServerDuplexStream<Req, object>) => {
      let nonce = 0;
      stream.on('data', (req: Req) => {
        received.push(req);
        if (req.response_nonce !== undefined && req.response_nonce !== '') return;
        nonce += 1;
        if (req.type_url === CDS)
          stream.write({ version_info: 'c1', type_url: CDS, nonce: `n${nonce}`, resources: [cluster] });
        if (req.type_url === LDS)
          stream.write({ version_info: 'l1', type_url: LDS, nonce: `n${nonce}`, resources: [listener] });
      });
      stream.on('error', () => undefined);
    },
  });
  proxy = await startAdsProxy({ id: 'envoy-protos', cluster: 'test' }, admin, server);
});

afterAll(async () => {
  await proxy?.close(500);
  server?.forceShutdown();
  await new Promise((r) => wsUpstream?.close(r));
});

/** Opens a WebSocket through the proxy; resolves with the echoed message or the refusal's status. */
function exchange(urlPath: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${urlPath}`);
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m) => {
      resolve(String(m));
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(`status ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => resolve(`error ${err.message}`));
  });
}

describe('resources encoded with Envoy’s real protos by a proto-loader control plane', () => {
  it('ACKs the listener (WebSocket routes, upgrade_configs) and the cluster with their versions', async () => {
    const lds = await waitFor(
      () => received.find((r) => r.type_url === LDS && r.response_nonce !== '' && r.response_nonce !== undefined),
      'LDS reply',
    );
    expect(lds.error_detail ?? null).toBeNull();
    expect(lds.version_info).toBe('l1');
    const cds = await waitFor(
      () => received.find((r) => r.type_url === CDS && r.response_nonce !== '' && r.response_nonce !== undefined),
      'CDS reply',
    );
    expect(cds.error_detail ?? null).toBeNull();
    expect(cds.version_info).toBe('c1');
  });

  it('listens with Listener.tcp_backlog_size (field 24, a UInt32Value) as its accept queue', async () => {
    await waitFor(async () => (await exchange('/chat')) === 'echo hi', 'the listener serving');
    expect(await listenBacklog(port)).toBe(77);
  });

  it('reads RouteAction.UpgradeConfig.enabled from field 2: true upgrades, false refuses with 403', async () => {
    await waitFor(async () => (await exchange('/chat')) === 'echo hi', 'WebSocket echo through the proxy');
    expect(await exchange('/off')).toBe('status 403');
    const dump = await configDump(admin, 'ListenersConfigDump');
    const text = JSON.stringify(dump);
    expect(text).toContain('"upgrade_configs":[{"upgrade_type":"websocket","enabled":false}]');
  });
});
