// Each listener warms and fails on its own (Envoy's listener manager: an added listener waits
// for its own RDS route configuration, then starts; a RouteConfiguration the proxy refuses is
// NACKed without holding back the others). A grpc-js ADS server serves listener 'good', then
// adds 'other' and 'bad' over RDS, where route configuration 'bad' is invalid. 'other' serves
// at once, long before the 30 s initial_fetch_timeout 'bad' warms for; the NACK and the warning
// on stderr name the resource and the field.
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import type { JsonMap } from '../../../proxy/xds/index.js';
import { freePorts, waitFor } from '../../control-plane/helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';
import {
  ADS_SERVICE,
  type DiscoveryRequestJson as Req,
  call,
  httpListenerResource,
  stat,
  staticClusterResource,
} from './helpers.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

let upstream: Upstream;
let server: grpc.Server;
let proxy: ProxyServer;
let goodPort: number;
let otherPort: number;
let badPort: number;
let morePort: number;
let pushListeners: (() => void) | undefined;
let pushBrokenListener: (() => void) | undefined;
let pushClusters: (() => void) | undefined;
let admin: number;
const received: Req[] = [];
const stderr: string[] = [];
const realWrite = process.stderr.write.bind(process.stderr);

const rds = (name: string) => ({
  rds: {
    route_config_name: name,
    config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '30s' },
  },
});

function routeConfig(name: string, match: JsonMap): JsonMap {
  return {
    '@type': RDS,
    name,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match, route: { cluster: 'backend' } }] }],
  };
}

beforeAll(async () => {
  upstream = await startUpstream('backend');
  [goodPort, otherPort, badPort, morePort, admin] = await freePorts(5);
  const routes: Record<string, JsonMap> = {
    good: routeConfig('good', { prefix: '/' }),
    other: routeConfig('other', { prefix: '/' }),
    // An unterminated group: not a regular expression.
    bad: routeConfig('bad', { safe_regex: { regex: '(' } }),
  };
  server = new grpc.Server();
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (stream: grpc.ServerDuplexStream<Req, JsonMap>) => {
      let nonce = 0;
      const send = (type_url: string, version_info: string, resources: JsonMap[]): void => {
        nonce += 1;
        stream.write({ version_info, type_url, nonce: `n${nonce}`, resources });
      };
      let rdsNames = '';
      let rdsVersion = 0;
      pushListeners = () =>
        send(LDS, 'l2', [
          httpListenerResource('good', goodPort, rds('good')) as JsonMap,
          httpListenerResource('other', otherPort, rds('other')) as JsonMap,
          httpListenerResource('bad', badPort, rds('bad')) as JsonMap,
        ]);
      // 'good' changed to an empty stat_prefix (Envoy's min_len 1 refuses it) and 'more' added.
      pushBrokenListener = () =>
        send(LDS, 'l3', [
          httpListenerResource('good', goodPort, { ...rds('good'), stat_prefix: '' }) as JsonMap,
          httpListenerResource('other', otherPort, rds('other')) as JsonMap,
          httpListenerResource('bad', badPort, rds('bad')) as JsonMap,
          httpListenerResource('more', morePort, rds('other')) as JsonMap,
        ]);
      // 'extra' is new and valid; 'broken' is refused (a Maglev table size must be prime).
      pushClusters = () =>
        send(CDS, 'c2', [
          staticClusterResource('backend', upstream.port) as JsonMap,
          staticClusterResource('extra', upstream.port) as JsonMap,
          staticClusterResource('broken', upstream.port, {
            lb_policy: 'MAGLEV',
            maglev_lb_config: { table_size: 100 },
          }) as JsonMap,
        ]);
      stream.on('data', (req: Req) => {
        received.push(req);
        // RDS: answer every change of the subscribed names with those route configurations.
        const names = [...(req.resource_names ?? [])].sort().join(',');
        if (req.type_url === RDS && names !== rdsNames) {
          rdsNames = names;
          rdsVersion += 1;
          send(
            RDS,
            `r${rdsVersion}`,
            (req.resource_names ?? []).map((n) => routes[n] as JsonMap),
          );
        }
        if (req.response_nonce !== undefined && req.response_nonce !== '') return;
        if (req.type_url === CDS) send(CDS, 'c1', [staticClusterResource('backend', upstream.port) as JsonMap]);
        if (req.type_url === LDS) send(LDS, 'l1', [httpListenerResource('good', goodPort, rds('good')) as JsonMap]);
      });
      stream.on('error', () => undefined);
    },
  });
  const xdsPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stderr.push(String(chunk));
    return (realWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  const { '@type': _t, ...xdsCluster } = staticClusterResource('xds_cluster', xdsPort);
  proxy = await startProxy({
    concurrency: 1,
    logLevel: 'warning',
    drainTimeSeconds: 1,
    config: {
      node: { id: 'warming', cluster: 'test' },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
      dynamic_resources: {
        ads_config: {
          api_type: 'GRPC',
          transport_api_version: 'V3',
          grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
        },
        cds_config: { ads: {}, resource_api_version: 'V3' },
        lds_config: { ads: {}, resource_api_version: 'V3' },
      },
      static_resources: { clusters: [xdsCluster] },
    },
  });
});

afterAll(async () => {
  process.stderr.write = realWrite;
  await proxy?.close(500);
  server?.forceShutdown();
  await upstream?.close();
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

describe('listeners warm and fail on their own', () => {
  it('starts an added listener as soon as its routes arrive while another waits for its refused RouteConfiguration', async () => {
    expect((await call(goodPort, 'x')).upstream).toBe('backend');
    pushListeners!();
    await waitFor(
      async () => (await call(otherPort, 'x').catch(() => undefined))?.upstream === 'backend',
      'other serves',
    );
    expect(await refused(badPort)).toBe(true);
    expect((await call(goodPort, 'x')).upstream).toBe('backend');
  });

  it('NACKs the RouteConfiguration naming the resource and the field; the warning on stderr says the same', async () => {
    const nack = await waitFor(
      () => received.find((r) => r.type_url === RDS && r.error_detail !== undefined && r.error_detail !== null),
      'RDS NACK',
    );
    expect(nack.error_detail!.message).toMatch(/^bad: virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex/);
    expect(nack.error_detail!.message).not.toMatch(/(^|; )good:/);
    expect(await stat(admin, 'listener_manager.rds.update_rejected')).toBe(1);
    const warning = stderr.find((l) => l.includes('[warning]') && l.includes('rejected routes'));
    expect(warning).toMatch(
      /xds: rejected routes version r\d: bad: virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex/,
    );
  });

  it('applies the valid listeners of an LDS update and NACKs the refused one, which keeps its last good version', async () => {
    pushBrokenListener!();
    await waitFor(
      async () => (await call(morePort, 'x').catch(() => undefined))?.upstream === 'backend',
      'more serves',
    );
    const nack = await waitFor(
      () => received.find((r) => r.type_url === LDS && r.error_detail !== undefined && r.error_detail !== null),
      'LDS NACK',
    );
    expect(nack.error_detail!.message).toMatch(/^good: .*stat_prefix/);
    // meshscope ACKs an LDS version once all its listeners are active; 'bad' of l2 still warms.
    expect(nack.version_info).toBe('l1');
    expect((await call(goodPort, 'x')).upstream).toBe('backend');
    expect(
      stderr.some((l) => l.includes('[warning]') && /rejected listeners version l3: good: .*stat_prefix/.test(l)),
    ).toBe(true);
  });

  it('applies the valid clusters of a CDS update and NACKs the refused one, as Envoy CDS does', async () => {
    pushClusters!();
    const nack = await waitFor(
      () => received.find((r) => r.type_url === CDS && r.error_detail !== undefined && r.error_detail !== null),
      'CDS NACK',
    );
    expect(nack.error_detail!.message).toMatch(/^broken: maglev_lb_config\.table_size: must be a prime number/);
    expect(nack.version_info).toBe('c1');
    const clusters = await (await fetch(`http://127.0.0.1:${admin}/clusters`)).text();
    expect(clusters).toContain('extra::');
    expect(clusters).not.toContain('broken::');
    expect((await call(goodPort, 'x')).upstream).toBe('backend');
  });
});
