// The OpenTelemetry access logger as current Envoy configures it (API reference of
// envoy.access_loggers.open_telemetry, v1.37: `log_name` and `http_service` or `grpc_service` at the
// top level; `common_config` deprecated), in the shape of Envoy's OTLP/HTTP sandbox bootstrap:
// tracer and access logger both exporting over OTLP/HTTP to one collector cluster. Also the
// HttpFilter `is_optional` flag as Istio sets it on `istio.stats`: an optional filter the proxy
// does not implement is skipped (Envoy's HttpFilter docs), a required one refuses the config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findAttribute } from '../../../collector/receivers/otlp/model.js';
import type { JsonMap } from '../../../proxy/xds/index.js';
import { proxyResourceValidator } from '../../../proxy/xds/validator.js';
import '../../../proxy/extensions/index.js';
import '../../../proxy/telemetry/index.js';
import { freePort, request, startSidecar, TelemetryReceiver, waitFor, type Sidecar } from './helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';

const BOOTSTRAP = `
node: { id: otel-http-1, cluster: front }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: ADMIN } }
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: 127.0.0.1, port_value: LISTEN } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          tracing:
            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                service_name: front-envoy
                http_service:
                  http_uri: { uri: "http://collector:4318/v1/traces", cluster: opentelemetry_collector, timeout: 0.250s }
          access_log:
          - name: envoy.access_loggers.open_telemetry
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig
              log_name: otel-http-access-log
              http_service:
                http_uri: { uri: "http://collector:4318/v1/logs", cluster: opentelemetry_collector, timeout: 0.250s }
                request_headers_to_add:
                - header: { key: x-tenant, value: shop }
              resource_attributes:
                values:
                - { key: deployment.environment, value: { string_value: test } }
              body: { string_value: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%" }
              attributes:
                values:
                - { key: http.response.status_code, value: { string_value: "%RESPONSE_CODE%" } }
          - name: envoy.access_loggers.open_telemetry
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig
              log_name: otel-grpc-access-log
              grpc_service: { envoy_grpc: { cluster_name: opentelemetry_collector } }
          http_filters:
          - name: istio.stats
            is_optional: true
            typed_config: { "@type": type.googleapis.com/stats.PluginConfig }
          - name: acme.filters.http.not_in_meshscope
            is_optional: true
            typed_config: { "@type": type.googleapis.com/acme.filters.http.v1.NotInMeshscope }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: backend } }]
  clusters:
  - name: backend
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: BACKEND } } } }] }]
  - name: opentelemetry_collector
    type: STATIC
    load_assignment:
      cluster_name: opentelemetry_collector
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: COLLECTOR } } } }] }]
`;

let receiver: TelemetryReceiver;
let backend: Upstream;
let sidecar: Sidecar;
let port: number;

beforeAll(async () => {
  receiver = new TelemetryReceiver();
  await receiver.start();
  backend = await startUpstream('backend');
  port = await freePort();
  const admin = await freePort();
  const text = BOOTSTRAP.replace('ADMIN', String(admin))
    .replace('LISTEN', String(port))
    .replace('BACKEND', String(backend.port))
    .replace('COLLECTOR', String(receiver.port));
  sidecar = await startSidecar('otel-http', parse(text) as object, [], { OTEL_BLRP_SCHEDULE_DELAY: '100' });
});

afterAll(async () => {
  await sidecar?.stop();
  await backend?.close();
  await receiver?.stop();
});

describe('the OpenTelemetry access logger in current Envoy’s form', () => {
  it('loads, skips the optional filter it lacks, and exports OTLP/HTTP log records named by log_name', async () => {
    const r = await request(port, '/items?x=1', [['host', 'shop']]);
    expect(r.status).toBe(200);
    const record = await waitFor('the access log record', () =>
      receiver.logs.find((l) => l.scope.name === 'otel-http-access-log'),
    );
    expect(record.body).toBe('GET /items?x=1 200');
    expect(findAttribute(record.attributes, 'http.response.status_code')).toBe('200');
    expect(findAttribute(record.resource.attributes, 'deployment.environment')).toBe('test');
  });

  it('refuses a filter it lacks unless it is optional, and is_optional outside HttpFilter, naming the path', () => {
    const listener = (filter: JsonMap, logger: JsonMap = {}): JsonMap => ({
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type':
                  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                stat_prefix: 's',
                route_config: { name: 'r' },
                access_log: [{ name: 'envoy.access_loggers.stdout', ...logger }],
                http_filters: [
                  filter,
                  {
                    name: 'envoy.filters.http.router',
                    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    const unknown = { name: 'acme.x', typed_config: { '@type': 'type.googleapis.com/acme.X' } };
    expect(proxyResourceValidator.listener(listener({ ...unknown, is_optional: true }))).toEqual([]);
    expect(proxyResourceValidator.listener(listener(unknown)).join('\n')).toMatch(
      /http_filters\[0\]\.typed_config\.@type: unsupported HTTP filter extension 'acme\.x'/,
    );
    expect(
      proxyResourceValidator
        .listener(listener({ name: 'envoy.filters.http.router' }, { is_optional: true }))
        .join('\n'),
    ).toMatch(/access_log\[0\]\.is_optional: unknown field/);
  });
});
