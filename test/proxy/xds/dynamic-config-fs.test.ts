// Envoy's dynamic-config-fs sandbox, in its shape: a bootstrap whose cds_config and lds_config
// are bare `path`s, a cds.yaml with a STRICT_DNS cluster, and an lds.yaml whose filter chain
// gives `filters` as one object instead of a list and names the router without typed_config.
// Envoy's loader takes a single value for a repeated field (protobuf's JSON parser does), so the
// sandbox's listener opens; meshscope must load the same files and route through them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { freePorts, tempDir, waitFor, type TempDir } from '../../control-plane/helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';
import { call } from './helpers.js';

let dir: TempDir;
let service: Upstream;
let proxy: ProxyServer;
let port: number;
let admin: number;

beforeAll(async () => {
  dir = tempDir();
  service = await startUpstream('service1');
  [port, admin] = await freePorts(2);
  dir.write(
    'cds.yaml',
    `resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: example_proxy_cluster
  connect_timeout: 1s
  type: STRICT_DNS
  load_assignment:
    cluster_name: example_proxy_cluster
    endpoints:
    - lb_endpoints:
      - endpoint:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: ${service.port}
`,
  );
  dir.write(
    'lds.yaml',
    `resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: listener_0
  address:
    socket_address:
      address: 127.0.0.1
      port_value: ${port}
  filter_chains:
  - filters:
      name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: ingress_http
        http_filters:
        - name: envoy.filters.http.router
        route_config:
          name: local_route
          virtual_hosts:
          - name: local_service
            domains:
            - "*"
            routes:
            - match:
                prefix: "/"
              route:
                cluster: example_proxy_cluster
`,
  );
  proxy = await startProxy({
    concurrency: 1,
    logLevel: 'off',
    drainTimeSeconds: 1,
    config: {
      node: { id: 'id_1', cluster: 'test' },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
      dynamic_resources: { cds_config: { path: dir.file('cds.yaml') }, lds_config: { path: dir.file('lds.yaml') } },
    },
  });
});

afterAll(async () => {
  await proxy?.close(500);
  await service?.close();
  dir?.remove();
});

describe("Envoy's dynamic-config-fs files", () => {
  it('open the listener and route to the STRICT_DNS cluster', async () => {
    await waitFor(
      async () => (await call(port, 'x').catch(() => undefined))?.upstream === 'service1',
      'listener_0 routes',
    );
    expect((await call(port, 'x')).status).toBe(200);
  });
});
