// The validate-rule evaluator against Envoy's own definitions: each rule kind the control plane's
// output meets is shown refusing a value Envoy refuses (the rule quoted from Envoy's .proto), and
// a valid resource passes, so the conformance suite beside it cannot pass by checking nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { ENVOY_API_FILES, loadProtoRoot } from '../../proxy/xds/proto/envoy-api.js';
import { EnvoyApiChecker } from './pgv.js';

let checker: EnvoyApiChecker;
beforeAll(() => {
  checker = new EnvoyApiChecker(loadProtoRoot(ENVOY_API_FILES));
});

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const ROUTE = 'envoy.config.route.v3.RouteConfiguration';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const OTEL = 'envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig';

const cluster = (extra: Record<string, unknown>) => ({
  name: 'c',
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: {
    cluster_name: 'c',
    endpoints: [
      { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 80 } } } }] },
    ],
  },
  ...extra,
});
const routes = (route: Record<string, unknown>, vhost: Record<string, unknown> = {}) => ({
  name: 'r',
  virtual_hosts: [{ name: 'v', domains: ['*'], routes: [route], ...vhost }],
});

describe('the validate-rule evaluator over Envoy’s real protos', () => {
  it('passes valid resources', () => {
    expect(checker.check(CLUSTER, cluster({}))).toEqual([]);
    expect(checker.check(ROUTE, routes({ match: { prefix: '/' }, route: { cluster: 'c', timeout: '0s' } }))).toEqual(
      [],
    );
  });

  it.each([
    // message.required: CommonGrpcAccessLogConfig.grpc_service
    [OTEL, { common_config: { log_name: 'x' } }, 'common_config.grpc_service: is required'],
    // string.min_len: HttpConnectionManager.stat_prefix
    [HCM, { stat_prefix: '' }, 'stat_prefix: must be at least 1 characters long'],
    // duration.gt {}: Cluster.connect_timeout
    [CLUSTER, cluster({ connect_timeout: '0s' }), 'connect_timeout: must be > 0'],
    // uint32.lte 65535: SocketAddress.port_value
    [
      CLUSTER,
      cluster({
        load_assignment: {
          cluster_name: 'c',
          endpoints: [
            { lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'a', port_value: 70000 } } } }] },
          ],
        },
      }),
      'port_value: must be <= 65535 (is 70000)',
    ],
    // uint32.lte 100 on a wrapper: OutlierDetection.max_ejection_percent
    [CLUSTER, cluster({ outlier_detection: { max_ejection_percent: 101 } }), 'max_ejection_percent: must be <= 100'],
    // enum.defined_only: Cluster.type
    [CLUSTER, cluster({ type: 9 }), 'type: 9 is not a defined value'],
    [
      CLUSTER,
      cluster({ type: 'STATICK' }),
      "type: 'STATICK' is not a value of envoy.config.cluster.v3.Cluster.DiscoveryType",
    ],
    // repeated.min_items 1: VirtualHost.domains
    [
      ROUTE,
      routes({ match: { prefix: '/' }, route: { cluster: 'c' } }, { domains: [] }),
      'domains: must have at least 1 item(s)',
    ],
    // oneof (validate.required): RouteMatch.path_specifier
    [ROUTE, routes({ match: {}, route: { cluster: 'c' } }), 'match: one of prefix, path, safe_regex'],
    // well_known_regex HTTP_HEADER_NAME (strict: false): HeaderValue.key
    [
      ROUTE,
      routes(
        { match: { prefix: '/' }, route: { cluster: 'c' } },
        { request_headers_to_add: [{ header: { key: 'a\nb', value: 'v' } }] },
      ),
      'header.key: must be a valid HTTP header name',
    ],
    // the message itself: unknown fields, two oneof members, unknown Any types
    [
      CLUSTER,
      cluster({ conect_timeout: '1s' }),
      "conect_timeout: no field 'conect_timeout' in envoy.config.cluster.v3.Cluster",
    ],
    [ROUTE, routes({ match: { prefix: '/', path: '/x' }, route: { cluster: 'c' } }), 'prefix and path are one oneof'],
    [
      HCM,
      { stat_prefix: 's', http_filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/acme.Filter' } }] },
      "http_filters[0].typed_config.@type: no message type.googleapis.com/acme.Filter in Envoy's API",
    ],
  ])('%s refuses %j', (type, json, problem) => {
    expect(checker.check(type as string, json).join('\n')).toContain(problem);
  });

  it('reads the overlay: the current OpenTelemetry access logger form passes, as current Envoy accepts it (v1.37 API docs)', () => {
    const form = {
      log_name: 'frontend',
      http_service: { http_uri: { uri: 'http://127.0.0.1:4318/v1/logs', cluster: 'otel', timeout: '1s' } },
      body: { string_value: '%REQ(:METHOD)%' },
      attributes: { values: [{ key: 'status', value: { string_value: '%RESPONSE_CODE%' } }] },
    };
    expect(checker.check(OTEL, form)).toEqual([]);
  });
});
