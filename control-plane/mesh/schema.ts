// The mesh description's schema (zod 4, strict: an unknown key is an error naming its path).
// Shapes follow Istio's Service/VirtualService/DestinationRule ideas, spelled in snake_case
// like the Envoy configuration the rest of meshscope reads. Cross-references (destinations,
// subsets, port collisions) are checked in `validate.ts` after the shapes parse.
import { z } from 'zod';
import { authorizationPolicy } from './authorization.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;

/** A duration such as `250ms`, `2s`, `1.5s` or `1m`, parsed into milliseconds. */
const duration = z
  .string()
  .regex(DURATION, 'expected a duration such as 250ms, 2s or 1m')
  .transform((text) => {
    const [, amount, unit] = DURATION.exec(text) as RegExpExecArray;
    const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000;
    return Math.round(Number(amount) * factor);
  });

const port = z.number().int().min(1).max(65535);
const percent = z.number().min(0).max(100);
/** `ip:port`; the mesh runs on loopback, so hosts are IPv4 literals. */
const socketAddress = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, 'expected ip:port, e.g. 127.0.0.1:9101')
  .refine((s) => {
    const p = Number(s.slice(s.lastIndexOf(':') + 1));
    return p >= 1 && p <= 65535;
  }, 'port must be 1..65535');
const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a lowercase DNS label (a-z, 0-9, -)');
const labels = z.record(z.string().min(1), z.string());

const regex = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` });
  }
});

const stringMatch = z
  .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: regex.optional() })
  .refine(
    (m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length === 1,
    'exactly one of exact, prefix, regex',
  );

const httpMatch = z
  .strictObject({
    prefix: z.string().startsWith('/', 'a path prefix starts with /').optional(),
    path: z.string().startsWith('/', 'a path starts with /').optional(),
    headers: z.record(z.string().regex(/^:?[a-z0-9-]+$/, 'header names are lowercase'), stringMatch).optional(),
  })
  .refine((m) => !(m.prefix !== undefined && m.path !== undefined), 'prefix and path are exclusive');

const destination = z.strictObject({
  /** A service name (`catalog`) or `name.namespace`; defaults to the service the rule belongs to. */
  service: z.string().optional(),
  /** A subset declared in the destination's policy, or a `version` label value. */
  subset: z.string().optional(),
  /** Percent of matching requests; the weights of a rule's destinations sum to 100. */
  weight: z.number().int().min(0).max(100).optional(),
});

/** Envoy's retry_on conditions a mesh rule may name: HTTP ones, then gRPC statuses (for GRPC ports). */
const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
];

const retries = z.strictObject({
  attempts: z.number().int().min(0).max(10),
  per_try_timeout: duration.optional(),
  /** Envoy's `retry_on` conditions, comma separated. */
  retry_on: z
    .string()
    .regex(
      new RegExp(`^(${RETRY_ON.join('|')})(,(${RETRY_ON.join('|')}))*$`),
      `expected comma-separated Envoy retry_on conditions (${RETRY_ON.join(', ')})`,
    )
    .default('5xx,connect-failure,reset'),
});

const fault = z
  .strictObject({
    delay: z.strictObject({ percent, fixed_delay: duration }).optional(),
    abort: z.strictObject({ percent, http_status: z.number().int().min(200).max(599) }).optional(),
  })
  .refine((f) => f.delay !== undefined || f.abort !== undefined, 'a fault needs delay, abort or both');

const mirror = z.strictObject({
  service: z.string().optional(),
  subset: z.string().optional(),
  percent: percent.default(100),
});

const routeRule = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -')
    .optional(),
  /** Any one of the matches selects the rule (OR); within a match every condition holds (AND). */
  match: z.array(httpMatch).min(1).optional(),
  route: z.array(destination).min(1),
  timeout: duration.optional(),
  retries: retries.optional(),
  fault: fault.optional(),
  mirror: mirror.optional(),
  prefix_rewrite: z.string().optional(),
});

const subset = z.strictObject({ name: z.string().min(1), labels });

const destinationPolicy = z.strictObject({
  load_balancer: z.enum(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV']).default('ROUND_ROBIN'),
  connect_timeout: duration.default(1000),
  circuit_breaker: z
    .strictObject({
      max_connections: z.number().int().min(1).optional(),
      max_pending_requests: z.number().int().min(1).optional(),
      max_requests: z.number().int().min(1).optional(),
      max_retries: z.number().int().min(0).optional(),
    })
    .optional(),
  outlier_detection: z
    .strictObject({
      consecutive_5xx: z.number().int().min(1).optional(),
      interval: duration.optional(),
      base_ejection_time: duration.optional(),
      max_ejection_percent: z.number().int().min(0).max(100).optional(),
    })
    .optional(),
  subsets: z.array(subset).optional(),
});

const servicePort = z.strictObject({
  name: dnsLabel,
  port,
  /** `TCP`: sidecars carry the port's bytes with tcp_proxy instead of an HTTP connection manager. */
  protocol: z.enum(['HTTP', 'HTTP2', 'GRPC', 'TCP']).default('HTTP'),
});

export const workload = z.strictObject({
  /** Unique in the mesh: the sidecar's node id. */
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -'),
  /** Istio-style labels; `version` names the implicit subset the workload belongs to. */
  labels: labels.default({}),
  locality: z
    .strictObject({ region: z.string().optional(), zone: z.string().optional(), sub_zone: z.string().optional() })
    .optional(),
  /** The local application's address for each service port, keyed by port name. */
  endpoints: z.record(z.string(), socketAddress),
  weight: z.number().int().min(1).max(128).default(1),
  sidecar: z
    .strictObject({
      /** Inbound listener port for each service port (keyed by port name); it forwards to `endpoints`. */
      inbound: z.record(z.string(), port),
      /** The one outbound listener: the application's egress proxy, routing by Host to every service. */
      outbound_port: port,
      /**
       * Outbound listeners for TCP service ports, which have no Host header to route by: one per
       * destination, keyed `<service>:<port name>` (service as `name` or `name.namespace`), each
       * the local port the application connects to for that service port.
       */
      outbound_tcp: z.record(z.string(), port).optional(),
      admin_port: port.optional(),
    })
    .optional(),
});

const service = z.strictObject({
  name: dnsLabel,
  namespace: dnsLabel.default('default'),
  /** Istio's PeerAuthentication for this service's inbound traffic; the mesh's `mtls` when absent. */
  mtls: z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']).optional(),
  /** The identity its workloads' certificates carry (spiffe://<trust_domain>/ns/<namespace>/sa/<this>); the service name by default. */
  service_account: dnsLabel.optional(),
  ports: z.array(servicePort).min(1),
  workloads: z.array(workload),
  routes: z.array(routeRule).optional(),
  policy: destinationPolicy.optional(),
  /**
   * Istio's `Sidecar` egress for this service's sidecars: the services they call (`name` or
   * `name.namespace`). Their outbound routes and clusters then hold only these (and the services
   * these services' routes send to), and an edit of any other service is not pushed to them.
   * Absent: every service, as Istio without a Sidecar resource.
   */
  egress: z.strictObject({ hosts: z.array(z.string().min(1)).min(1) }).optional(),
});

const ingress = z.strictObject({
  /** The front proxy's node id. */
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -'),
  port,
  /**
   * An HTTPS listener beside `port`: TLS terminated with the operator's certificate (the
   * bootstrap's static secret `ingress-cert`; `meshscope up` generates one), h2 and http/1.1 by ALPN.
   */
  https_port: port.optional(),
  admin_port: port.optional(),
  /** Domains the front proxy answers for; `*` by default. */
  domains: z.array(z.string().min(1)).min(1).default(['*']),
  /** Every destination of an ingress rule names its `service`. */
  routes: z.array(routeRule).min(1),
});

const telemetry = z.strictObject({
  /** The collector's OTLP/HTTP address (`/v1/traces`, `/v1/logs` on it). */
  collector: socketAddress,
  sampling_percent: percent.default(100),
  /** Where sidecars write access logs: OTLP logs to the collector, stdout, or nowhere. */
  access_log: z.enum(['otlp', 'stdout', 'none']).default('otlp'),
});

export const mesh = z.strictObject({
  name: z.string().min(1).default('mesh'),
  /** The SPIFFE trust domain of the mesh's identities (Istio's default, cluster.local). */
  trust_domain: z
    .string()
    .regex(/^[a-z0-9._-]+$/, 'a trust domain is lowercase letters, digits, ., - and _')
    .default('cluster.local'),
  /**
   * Mesh-wide PeerAuthentication: STRICT (mutual TLS only), PERMISSIVE (mutual TLS and
   * plaintext on the same port), DISABLE (plaintext). Callers use mutual TLS to every service
   * that accepts it. Certificates come from the control plane's CA over SDS.
   */
  mtls: z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']).default('DISABLE'),
  /** Istio-style AuthorizationPolicy resources (see authorization.ts). */
  authorization_policies: z.array(authorizationPolicy).optional(),
  telemetry: telemetry.optional(),
  services: z.array(service).min(1),
  ingress: ingress.optional(),
});

/**
 * The mesh with each service left unchecked, and a service with each workload left unchecked:
 * validate.ts checks services and workloads one by one, so an unchanged one (the same parsed
 * YAML object) is checked once, not on every edit.
 */
export const meshWithUncheckedServices = mesh.extend({ services: z.array(z.unknown()).min(1) });
export const serviceWithUncheckedWorkloads = service.extend({ workloads: z.array(z.unknown()) });

export type Mesh = z.output<typeof mesh>;
export type Service = z.output<typeof service>;
export type ServicePort = z.output<typeof servicePort>;
export type Workload = z.output<typeof workload>;
export type RouteRule = z.output<typeof routeRule>;
export type Destination = z.output<typeof destination>;
export type HttpMatch = z.output<typeof httpMatch>;
export type Telemetry = z.output<typeof telemetry>;
