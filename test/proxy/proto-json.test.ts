// Envoy loads its config through protobuf's JSON parser, so proto3's JSON mapping is part of
// its config format (https://www.envoyproxy.io/docs/envoy/latest/configuration/overview/
// bootstrap — "the proto3 canonical JSON representation"; protobuf's JSON mapping: "Parsers
// accept both the lowerCamelCase name ... and the original proto field name", enums "may be
// the integer value"). TypedStruct (xds.type.v3 / udpa.type.v1) carries an extension config as
// `type_url` + a Struct `value` (https://www.envoyproxy.io/docs/envoy/latest/api-v3/xds/type/v3/
// typed_struct.proto). Envoy's dynamic-config-fs example (examples/dynamic-config-fs/configs/
// lds.yaml) writes `filters:` as one object, which Envoy's C++ parser reads as a one-item list
// (xDS files: test/proxy/xds/dynamic-config-fs.test.ts; here the same form in a bootstrap).
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText, validateBootstrap } from '../../proxy/index.js';
import { freePorts } from '../control-plane/helpers.js';
import { configProblems as errorsOf, request, startTestProxy, startUpstream } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/** A camelCase bootstrap as protobuf's JSON printer writes it (enums as numbers, TypedStruct filters). */
function camelBootstrap(listenerPort: number, upstreamPort: number, wrapper: string) {
  return {
    staticResources: {
      listeners: [
        {
          name: 'l',
          address: { socketAddress: { address: '127.0.0.1', portValue: listenerPort, protocol: 0 } },
          filterChains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typedConfig: {
                    '@type': wrapper,
                    typeUrl: HCM,
                    value: {
                      statPrefix: 'ingress',
                      codecType: 1,
                      routeConfig: {
                        virtualHosts: [
                          {
                            name: 'v',
                            domains: ['*'],
                            routes: [{ match: { prefix: '/' }, route: { cluster: 'up', priority: 0 } }],
                          },
                        ],
                      },
                      httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER } }],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'up',
          connectTimeout: '1s',
          type: 0,
          lbPolicy: 1,
          dnsLookupFamily: 1,
          outlierDetection: { consecutive5xx: 3 },
          loadAssignment: {
            clusterName: 'up',
            endpoints: [
              {
                lbEndpoints: [
                  {
                    healthStatus: 1,
                    endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: upstreamPort } } },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

describe('proto3 JSON as Envoy loads it', () => {
  it('reads camelCase names and enum numbers as the proto field names and enum values', () => {
    const parsed = validateBootstrap(camelBootstrap(1, 2, 'type.googleapis.com/xds.type.v3.TypedStruct'));
    const cluster = parsed.static_resources!.clusters![0]!;
    expect(cluster.type).toBe('STATIC');
    expect(cluster.lb_policy).toBe('LEAST_REQUEST');
    expect(cluster.dns_lookup_family).toBe('V4_ONLY');
    expect(cluster.outlier_detection?.consecutive_5xx).toBe(3);
    expect(cluster.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.health_status).toBe('HEALTHY');
    const filter = parsed.static_resources!.listeners![0]!.filter_chains[0]!.filters[0]!;
    expect(filter.typed_config?.['@type']).toBe(HCM);
    expect(filter.typed_config?.codec_type).toBe('HTTP1');
  });

  it('names an error by the path as written: camelCase, and through a TypedStruct value', () => {
    const cfg = camelBootstrap(1, 2, 'type.googleapis.com/udpa.type.v1.TypedStruct');
    const value = cfg.staticResources.listeners[0]!.filterChains[0]!.filters[0]!.typedConfig.value as Record<
      string,
      unknown
    >;
    value.statPrefixx = 'typo';
    (cfg.staticResources.clusters[0] as Record<string, unknown>).lbPolicy = 42;
    expect(errorsOf(cfg).sort()).toEqual([
      expect.stringMatching(/^staticResources\.clusters\[0\]\.lbPolicy: /),
      'staticResources.listeners[0].filterChains[0].filters[0].typedConfig.value.statPrefixx: unknown field',
    ]);
  });

  it('routes through a listener whose HCM is wrapped in xds.type.v3.TypedStruct', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const [port] = await freePorts(1);
    const p = await startTestProxy(camelBootstrap(port!, up.port, 'type.googleapis.com/xds.type.v3.TypedStruct'));
    cleanups.push(() => p.close());
    const res = await request(p.port, '/hello');
    expect(res.status).toBe(200);
    expect(res.json<{ upstream: string }>().upstream).toBe('up');
  });

  it('unwraps a TypedStruct per-route config (typed_per_filter_config), camelCase inside', async () => {
    const up = await startUpstream('up');
    cleanups.push(() => up.close());
    const [port] = await freePorts(1);
    const cfg = camelBootstrap(port!, up.port, 'type.googleapis.com/xds.type.v3.TypedStruct');
    const hcm = cfg.staticResources.listeners[0]!.filterChains[0]!.filters[0]!.typedConfig.value as {
      httpFilters: object[];
      routeConfig: { virtualHosts: Array<{ routes: Array<Record<string, unknown>> }> };
    };
    hcm.httpFilters.unshift({ name: 'envoy.filters.http.fault', typedConfig: { '@type': FAULT } });
    hcm.routeConfig.virtualHosts[0]!.routes.unshift({
      match: { prefix: '/aborted' },
      route: { cluster: 'up' },
      typedPerFilterConfig: {
        'envoy.filters.http.fault': {
          '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct',
          typeUrl: FAULT,
          value: { abort: { httpStatus: 418, percentage: { numerator: 100 } } },
        },
      },
    });
    const p = await startTestProxy(cfg);
    cleanups.push(() => p.close());
    expect((await request(p.port, '/aborted')).status).toBe(418);
    expect((await request(p.port, '/other')).status).toBe(200);
  });

  it('reads a lone value for a repeated field as a one-item list, and routes with it', async () => {
    const up = await startUpstream('service1');
    cleanups.push(() => up.close());
    const [port] = await freePorts(1);
    // The listener of Envoy's dynamic-config-fs lds.yaml, as a static one.
    const yaml = `static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address:
        address: 127.0.0.1
        port_value: ${port}
    filter_chains:
    - filters:
        name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
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
  clusters:
    name: example_proxy_cluster
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: example_proxy_cluster
      endpoints:
        lb_endpoints:
          endpoint:
            address:
              socket_address:
                address: 127.0.0.1
                port_value: ${up.port}
`;
    const p = await startTestProxy(parseConfigText(yaml, 'lds-as-static.yaml'));
    cleanups.push(() => p.close());
    expect((await request(p.port, '/')).json<{ upstream: string }>().upstream).toBe('service1');
    // An error inside the lone value names the path as written (no [0] that was not there).
    const bad = parseConfigText(yaml.replace('stat_prefix: ingress_http', 'stat_prefixx: x'), 'bad.yaml');
    expect(errorsOf(bad)).toContain(
      'static_resources.listeners[0].filter_chains[0].filters.typed_config.stat_prefixx: unknown field',
    );
  });
});
