// Helpers for xDS tests: a small mesh with real app servers, and proxies started in-process
// from the dynamic bootstrap `meshscope control-plane bootstrap` prints.
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { parseMesh, renderDynamicBootstrap } from '../../../control-plane/index.js';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../../../proxy/xds/index.js';
import { freePorts } from '../../control-plane/helpers.js';
import { startUpstream, staticCluster, type Upstream } from '../helpers.js';

export interface Sidecar {
  inbound: number;
  outbound: number;
  admin: number;
}

export interface MeshFixture {
  web: Upstream;
  api: Map<string, Upstream>;
  sidecars: Map<string, Sidecar>;
  /** Mesh YAML with the api route's weights and api workloads as given. */
  yaml(o: {
    weights?: Record<string, number>;
    apiWorkloads?: string[];
    apiSidecars?: boolean;
    extraRoute?: string;
  }): string;
  close(): Promise<void>;
}

export async function meshFixture(apiVersions: string[]): Promise<MeshFixture> {
  const web = await startUpstream('web');
  const api = new Map<string, Upstream>();
  for (const v of apiVersions) api.set(v, await startUpstream(`api-${v}`));
  const ports = await freePorts(3 * (1 + apiVersions.length));
  const sidecars = new Map<string, Sidecar>();
  ['web-1', ...apiVersions.map((v) => `api-${v}`)].forEach((name, i) => {
    sidecars.set(name, { inbound: ports[3 * i]!, outbound: ports[3 * i + 1]!, admin: ports[3 * i + 2]! });
  });
  const sc = (name: string): string => {
    const s = sidecars.get(name)!;
    return `{ inbound: { http: ${s.inbound} }, outbound_port: ${s.outbound}, admin_port: ${s.admin} }`;
  };
  return {
    web,
    api,
    sidecars,
    yaml(o) {
      const workloads = (o.apiWorkloads ?? apiVersions)
        .map(
          (v) =>
            `      - { name: api-${v}, labels: { version: ${v} }, endpoints: { http: 127.0.0.1:${api.get(v)!.port} }${o.apiSidecars === false ? '' : `, sidecar: ${sc(`api-${v}`)}`} }`,
        )
        .join('\n');
      const weights =
        o.weights === undefined
          ? ''
          : `    routes:
${o.extraRoute ?? ''}      - name: split
        route:
${Object.entries(o.weights)
  .map(([v, w]) => `          - { subset: ${v}, weight: ${w} }`)
  .join('\n')}
`;
      return `name: xds-test
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - { name: web-1, labels: { version: v1 }, endpoints: { http: 127.0.0.1:${web.port} }, sidecar: ${sc('web-1')} }
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
${workloads}
${weights}    policy:
      subsets:
${apiVersions.map((v) => `        - { name: ${v}, labels: { version: ${v} } }`).join('\n')}
`;
    },
    async close() {
      await Promise.all([web.close(), ...[...api.values()].map((u) => u.close())]);
    },
  };
}

/** Starts an in-process proxy for `node` from the mesh's dynamic bootstrap. */
export async function startSidecar(
  meshYaml: string,
  node: string,
  xdsPort: number,
  api: 'GRPC' | 'DELTA_GRPC' | 'REST',
): Promise<ProxyServer> {
  const bootstrap = renderDynamicBootstrap(parseMesh(meshYaml), node, {
    xds: `127.0.0.1:${xdsPort}`,
    api,
    refreshDelayMs: 100,
  });
  return startProxy({ config: bootstrap, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** GET through a proxy port with a Host header; resolves with status and the upstream's name. */
export function call(
  port: number,
  host: string,
  path = '/',
  headers: Record<string, string> = {},
): Promise<{ status: number; upstream: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { ...headers, host }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, upstream: String(res.headers['x-upstream'] ?? ''), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

export async function stat(adminPort: number, name: string): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name}: `));
  return line === undefined ? undefined : Number(line.slice(name.length + 2));
}

/** The parts of Envoy's `/config_dump` the tests read. */
export interface ConfigDumpEntry {
  '@type': string;
  bootstrap?: Record<string, unknown>;
  version_info?: string;
  static_clusters?: Array<{ cluster: { name: string } }>;
  dynamic_active_clusters?: Array<{ version_info: string; cluster: { name: string; type?: string } }>;
  dynamic_listeners?: Array<{
    name: string;
    active_state?: { version_info: string };
    error_state?: { details: string; version_info: string; failed_configuration: { name: string } };
  }>;
  dynamic_route_configs?: Array<{ version_info: string; route_config: { name: string } }>;
  error_state?: { details: string };
}

export async function configDump(adminPort: number, type: string): Promise<ConfigDumpEntry> {
  const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as {
    configs: ConfigDumpEntry[];
  };
  const entry = dump.configs.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${type}`);
  if (entry === undefined) throw new Error(`no ${type} in /config_dump`);
  return entry;
}

/** A STATIC cluster with one endpoint on 127.0.0.1:port (`@type` set, as in a DiscoveryResponse). */
export function staticClusterResource(
  name: string,
  port: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    ...staticCluster({ name, ports: [port], extra }),
  };
}

/**
 * A listener on 127.0.0.1:port with one HTTP connection manager (router only); `hcm` carries
 * its route specifier (`rds` or `route_config`) and any other field.
 */
export function httpListenerResource(
  name: string,
  port: number,
  hcm: Record<string, unknown>,
): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'ingress_http',
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

/** An in-process proxy whose management server listens on 127.0.0.1:xdsPort (cluster `xds_cluster`). */
export function startXdsProxy(
  node: { id: string; cluster: string },
  adminPort: number,
  xdsPort: number,
  dynamicResources: Record<string, unknown>,
): Promise<ProxyServer> {
  const { '@type': _type, ...xdsCluster } = staticClusterResource('xds_cluster', xdsPort);
  return startProxy({
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
    config: {
      node,
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
      dynamic_resources: dynamicResources,
      static_resources: { clusters: [xdsCluster] },
    },
  });
}

/**
 * Binds `server`, a gRPC ADS management server a test wrote, on 127.0.0.1:0 and starts a proxy
 * that takes its listeners and clusters from it (state of the world, `ads: {}` for CDS and LDS).
 */
export async function startAdsProxy(
  node: { id: string; cluster: string },
  adminPort: number,
  server: grpc.Server,
): Promise<ProxyServer> {
  const xdsPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return startXdsProxy(node, adminPort, xdsPort, {
    ads_config: {
      api_type: 'GRPC',
      transport_api_version: 'V3',
      grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
    },
    cds_config: { ads: {}, resource_api_version: 'V3' },
    lds_config: { ads: {}, resource_api_version: 'V3' },
  });
}

/** A DiscoveryRequest as the proxy's xDS client sends it, decoded to proto3 JSON names. */
export interface DiscoveryRequestJson {
  version_info?: string;
  node?: { id?: string };
  type_url?: string;
  resource_names?: string[];
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

/**
 * Envoy's StreamAggregatedResources for a @grpc/grpc-js server written in a test: requests
 * decoded, responses encoded with Envoy's protos; a Buffer response goes out as it is (how a
 * server newer than meshscope's schema looks).
 */
export const ADS_SERVICE: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DiscoveryRequestJson) =>
      Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m as JsonValue)),
    requestDeserialize: (buf: Buffer) =>
      decodeMessage('envoy.service.discovery.v3.DiscoveryRequest', buf) as DiscoveryRequestJson,
    responseSerialize: (m: JsonMap | Buffer) =>
      Buffer.isBuffer(m) ? m : Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryResponse', m)),
    responseDeserialize: (buf: Buffer) => decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', buf),
  },
};
