// A control plane written by someone else: a minimal REST-JSON xDS server implemented here
// straight from Envoy's documented protocol (POST /v3/discovery:<type>, DiscoveryRequest in,
// DiscoveryResponse out, the next poll's version_info/error_detail being the ACK/NACK),
// sharing no code with meshscope's control plane. It configures the proxy, changes its
// endpoints, and sends an invalid listener that the proxy must NACK while it keeps serving.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyServer } from '../../../proxy/index.js';
import { freePorts, waitFor } from '../../control-plane/helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';
import { call, configDump, httpListenerResource, startXdsProxy, stat } from './helpers.js';

const T = {
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
};
const REST_SOURCE = {
  api_config_source: {
    api_type: 'REST',
    transport_api_version: 'V3',
    cluster_names: ['xds_cluster'],
    refresh_delay: '0.1s',
  },
  resource_api_version: 'V3',
};

interface Recorded {
  path: string;
  body: {
    version_info?: string;
    node?: { id?: string };
    resource_names?: string[];
    response_nonce?: string;
    error_detail?: { message?: string };
  };
}

let a: Upstream;
let b: Upstream;
let server: http.Server;
let proxy: ProxyServer;
let listenPort: number;
let adminPort: number;
const requests: Recorded[] = [];
/** What the server currently serves per type: a version and the resources. */
const state: Record<string, { version: string; resources: Array<Record<string, unknown>> }> = {};

function listener(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return httpListenerResource('ingress', listenPort, {
    rds: { route_config_name: 'local_route', config_source: REST_SOURCE },
    ...extra,
  });
}

function assignment(port: number): Record<string, unknown> {
  return {
    '@type': T.eds,
    cluster_name: 'backend',
    endpoints: [
      { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] },
    ],
  };
}

beforeAll(async () => {
  [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  [listenPort, adminPort] = await freePorts(2);
  state[T.lds] = { version: 'l1', resources: [listener()] };
  state[T.rds] = {
    version: 'r1',
    resources: [
      {
        '@type': T.rds,
        name: 'local_route',
        virtual_hosts: [
          { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] },
        ],
      },
    ],
  };
  state[T.cds] = {
    version: 'c1',
    resources: [
      {
        '@type': T.cds,
        name: 'backend',
        type: 'EDS',
        connect_timeout: '1s',
        eds_cluster_config: { eds_config: REST_SOURCE },
      },
    ],
  };
  state[T.eds] = { version: 'e1', resources: [assignment(a.port)] };
  let nonce = 0;
  const byPath: Record<string, string> = {
    '/v3/discovery:listeners': T.lds,
    '/v3/discovery:routes': T.rds,
    '/v3/discovery:clusters': T.cds,
    '/v3/discovery:endpoints': T.eds,
  };
  server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const typeUrl = byPath[req.url ?? ''];
      if (req.method !== 'POST' || typeUrl === undefined) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(text) as Recorded['body'];
      requests.push({ path: req.url!, body });
      const s = state[typeUrl]!;
      const names = body.resource_names ?? [];
      const resources =
        names.length === 0 ? s.resources : s.resources.filter((r) => names.includes(String(r.name ?? r.cluster_name)));
      nonce += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version_info: s.version, resources, type_url: typeUrl, nonce: String(nonce) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const xdsPort = (server.address() as AddressInfo).port;
  // A bootstrap as an Envoy user would write it for a REST management server.
  proxy = await startXdsProxy({ id: 'foreign-node', cluster: 'foreign' }, adminPort, xdsPort, {
    lds_config: REST_SOURCE,
    cds_config: REST_SOURCE,
  });
});

afterAll(async () => {
  await proxy?.close(500);
  await new Promise((r) => server?.close(r));
  server?.closeAllConnections();
  await Promise.all([a?.close(), b?.close()]);
});

describe('a REST-JSON control plane written from the protocol docs', () => {
  it('configures listeners, routes, clusters and endpoints, with the node and ACKs on every poll', async () => {
    expect((await call(listenPort, 'example.com')).upstream).toBe('a');
    const ldsPolls = requests.filter((r) => r.path === '/v3/discovery:listeners');
    expect(ldsPolls[0]!.body.node?.id).toBe('foreign-node');
    await waitFor(
      () => requests.some((r) => r.path === '/v3/discovery:listeners' && r.body.version_info === 'l1'),
      'LDS ACK (version_info l1)',
    );
    const eds = requests.filter((r) => r.path === '/v3/discovery:endpoints');
    expect(eds[0]!.body.resource_names).toEqual(['backend']);
  });

  it('follows a new endpoints version', async () => {
    state[T.eds] = { version: 'e2', resources: [assignment(b.port)] };
    await waitFor(async () => (await call(listenPort, 'example.com')).upstream === 'b', 'traffic on the new endpoint');
    await waitFor(
      () => requests.some((r) => r.path === '/v3/discovery:endpoints' && r.body.version_info === 'e2'),
      'EDS ACK e2',
    );
  });

  it('NACKs an invalid listener with error_detail naming the field, and keeps serving the last good one', async () => {
    state[T.lds] = { version: 'l2', resources: [listener({ bogus_option: true })] };
    const nack = await waitFor(
      () => requests.find((r) => r.path === '/v3/discovery:listeners' && r.body.error_detail !== undefined),
      'a NACK for l2',
    );
    expect(nack.body.version_info).toBe('l1');
    expect(nack.body.error_detail!.message).toMatch(/bogus_option: unknown field/);
    expect((await call(listenPort, 'example.com')).upstream).toBe('b');
    expect(await stat(adminPort, 'listener_manager.lds.update_rejected')).toBeGreaterThanOrEqual(1);
    const lds = await configDump(adminPort, 'ListenersConfigDump');
    expect(lds.version_info).toBe('l1');
    // Envoy reports a refused listener on the listener itself (DynamicListener.error_state),
    // beside its last good state, not on the whole dump.
    expect(lds.error_state).toBeUndefined();
    const ingress = lds.dynamic_listeners?.find((l) => l.name === 'ingress');
    expect(ingress?.active_state?.version_info).toBe('l1');
    expect(ingress?.error_state?.details).toMatch(/bogus_option/);
    expect(ingress?.error_state?.version_info).toBe('l2');
    expect(ingress?.error_state?.failed_configuration.name).toBe('ingress');

    // Fixed by the control plane: accepted again.
    state[T.lds] = { version: 'l3', resources: [listener()] };
    await waitFor(
      () => requests.some((r) => r.path === '/v3/discovery:listeners' && r.body.version_info === 'l3'),
      'LDS ACK l3',
    );
  });
});
