// A gRPC ADS management server written here with @grpc/grpc-js's own Server (not meshscope's
// control plane), following Envoy's state-of-the-world protocol: it pushes listeners and
// clusters, the proxy ACKs each response by nonce, then an invalid cluster is NACKed on the
// stream with error_detail while the proxy keeps its last good configuration.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyServer } from '../../../proxy/index.js';
import { encodeMessage, type JsonMap } from '../../../proxy/xds/index.js';
import { freePorts, waitFor } from '../../control-plane/helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';
import {
  ADS_SERVICE,
  type DiscoveryRequestJson as Req,
  call,
  httpListenerResource,
  startAdsProxy,
  staticClusterResource,
  stat,
} from './helpers.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

let a: Upstream;
let b: Upstream;
let server: grpc.Server;
let proxy: ProxyServer;
let port: number;
let admin: number;
const received: Req[] = [];
let push: ((typeUrl: string, version: string, resources: JsonMap[]) => void) | undefined;
let pushRaw: ((bytes: Buffer) => void) | undefined;

function cluster(target: number, extra: JsonMap = {}): JsonMap {
  return staticClusterResource('backend', target, extra) as JsonMap;
}

function listener(): JsonMap {
  return httpListenerResource('ingress', port, {
    route_config: {
      name: 'local',
      virtual_hosts: [
        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] },
      ],
    },
  }) as JsonMap;
}

beforeAll(async () => {
  [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  [port, admin] = await freePorts(2);
  server = new grpc.Server();
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (stream: grpc.ServerDuplexStream<Req, JsonMap | Buffer>) => {
      let nonce = 0;
      const send = (typeUrl: string, version: string, resources: JsonMap[]): void => {
        nonce += 1;
        stream.write({ version_info: version, type_url: typeUrl, nonce: `n${nonce}`, resources });
      };
      push = send;
      pushRaw = (bytes) => stream.write(bytes);
      stream.on('data', (req: Req) => {
        received.push(req);
        // The first request per type subscribes; answer it with version 1.
        if (req.response_nonce === undefined || req.response_nonce === '') {
          if (req.type_url === CDS) send(CDS, 'c1', [cluster(a.port)]);
          if (req.type_url === LDS) send(LDS, 'l1', [listener()]);
        }
      });
      stream.on('error', () => undefined);
    },
  });
  proxy = await startAdsProxy({ id: 'grpc-node', cluster: 'test' }, admin, server);
});

afterAll(async () => {
  await proxy?.close(500);
  server?.forceShutdown();
  await Promise.all([a?.close(), b?.close()]);
});

describe('a gRPC ADS control plane written with grpc-js', () => {
  it('configures the proxy; each response is ACKed with its version and nonce, the node sent first', async () => {
    expect((await call(port, 'x')).upstream).toBe('a');
    expect(received[0]!.node?.id).toBe('grpc-node');
    await waitFor(
      () => received.some((r) => r.type_url === LDS && r.version_info === 'l1' && r.response_nonce !== ''),
      'LDS ACK',
    );
    await waitFor(
      () => received.some((r) => r.type_url === CDS && r.version_info === 'c1' && r.response_nonce !== ''),
      'CDS ACK',
    );
  });

  it('applies a pushed cluster change', async () => {
    push!(CDS, 'c2', [cluster(b.port)]);
    await waitFor(async () => (await call(port, 'x')).upstream === 'b', 'traffic on b');
    await waitFor(() => received.some((r) => r.type_url === CDS && r.version_info === 'c2'), 'CDS ACK c2');
  });

  it('NACKs an invalid cluster on the stream and keeps the last good one', async () => {
    push!(CDS, 'c3', [cluster(a.port, { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 100 } })]);
    const nack = await waitFor(
      () => received.find((r) => r.type_url === CDS && r.error_detail !== undefined),
      'CDS NACK',
    );
    expect(nack.version_info).toBe('c2');
    expect(nack.error_detail!.message).toMatch(/backend: maglev_lb_config.table_size: must be a prime number/);
    expect((await call(port, 'x')).upstream).toBe('b');
    expect(await stat(admin, 'cluster_manager.cds.update_rejected')).toBe(1);
  });

  it('NACKs a cluster carrying a protobuf field its schema does not know, instead of dropping it', async () => {
    const { '@type': _t, ...body } = cluster(a.port);
    const known = encodeMessage('envoy.config.cluster.v3.Cluster', body);
    // Field 1000 (varint 1) appended: a field Envoy's Cluster does not define.
    const value = Buffer.concat([
      known,
      Buffer.from(
        protobuf.Writer.create()
          .uint32((1000 << 3) | 0)
          .uint32(1)
          .finish(),
      ),
    ]);
    const any = encodeMessage('google.protobuf.Any', { type_url: CDS, value: value.toString('base64') });
    const envelope = encodeMessage('envoy.service.discovery.v3.DiscoveryResponse', {
      version_info: 'c4',
      type_url: CDS,
      nonce: 'raw-1',
    });
    pushRaw!(
      Buffer.concat([
        envelope,
        Buffer.from(
          protobuf.Writer.create()
            .uint32((2 << 3) | 2)
            .bytes(any)
            .finish(),
        ),
      ]),
    );
    const nack = await waitFor(
      () => received.find((r) => r.response_nonce === 'raw-1' && r.error_detail !== undefined),
      'NACK of c4',
    );
    expect(nack.error_detail!.message).toContain('<unknown protobuf field <field 1000>>: unknown field');
    expect((await call(port, 'x')).upstream).toBe('b');
  });
});
