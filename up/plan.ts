// What `meshscope up` runs for a mesh description, as plain data: every component's command,
// ports, readiness probe and what it waits for. The supervisor knows nothing of meshes; this
// module knows nothing of processes.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { collectorLaunchEnv } from '../collector/launch-env.js';
import type { Mesh } from '../control-plane/mesh/schema.js';
import { isShopService, SHOP_SERVICES } from '../examples/shop/shop.js';
import { UpPlanError } from './errors.js';
import type { Probe } from './probes.js';

export type ComponentKind = 'collector' | 'control-plane' | 'front-proxy' | 'sidecar' | 'app' | 'prometheus';

export interface PortSpec {
  name: string;
  port: number;
}

export interface ComponentSpec {
  name: string;
  kind: ComponentKind;
  command: string;
  args: string[];
  env: Record<string, string>;
  ports: PortSpec[];
  /** What a user opens or points a client at. */
  urls: string[];
  probe: Probe;
  /** Components that must be ready before this one starts. */
  after: string[];
  /** For proxies: the node id and the bootstrap file the supervisor writes before starting it. */
  bootstrap?: { nodeId: string; path: string };
}

export interface PlanOptions {
  mesh: Mesh;
  meshPath: string;
  stateDir: string;
  /** Collector data (write-ahead log, embedded ClickHouse). */
  dataDir: string;
  /** Control plane xDS address, ip:port. */
  xds: string;
  /** Collector query API address, ip:port. */
  collectorHttp: string;
  /** Prometheus binary and listen address, or null to run without it. */
  prometheus: { binary: string; listen: string } | null;
}

const node = process.execPath;
// A local mesh runs a dozen proxies on a laptop: one worker each is plenty, and a short drain
// keeps Ctrl-C quick (in-flight requests still finish within it).
const PROXY_FLAGS = ['--concurrency', '1', '--drain-time-s', '2'];
// The collector pairs a client span with its server span within a short window; every
// process exporting in half-second batches keeps the two halves of an edge well inside it
// (the OpenTelemetry default of 5 s would not).
const EXPORT_ENV = { OTEL_BSP_SCHEDULE_DELAY: '500', OTEL_BLRP_SCHEDULE_DELAY: '500' };
const cliMain = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const shopMain = fileURLToPath(new URL('../examples/shop/main.js', import.meta.url));

function split(address: string, what: string): { host: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address);
  if (m === null || Number(m[2]) > 65535) throw new UpPlanError(`${what}: expected ip:port, got '${address}'`);
  return { host: m[1]!, port: Number(m[2]) };
}

const COLLECTOR = 'collector';
const CONTROL_PLANE = 'control-plane';
const PROMETHEUS = 'prometheus';

export function planMesh(o: PlanOptions): ComponentSpec[] {
  const { mesh } = o;
  if (mesh.telemetry === undefined)
    throw new UpPlanError(`${o.meshPath}: telemetry.collector is required to run the observable mesh`);
  const otlp = split(mesh.telemetry.collector, `${o.meshPath}: telemetry.collector`);
  const api = split(o.collectorHttp, '--collector-http');
  const xds = split(o.xds, '--xds');
  const specs: ComponentSpec[] = [];

  specs.push({
    name: COLLECTOR,
    kind: 'collector',
    command: node,
    args: [
      cliMain,
      'collector',
      '--otlp-http',
      mesh.telemetry.collector,
      '--http',
      o.collectorHttp,
      '--data',
      o.dataDir,
    ],
    // glibc malloc's fixed mmap threshold (collector/launch-env.ts), unless this environment sets one.
    env: collectorLaunchEnv(),
    ports: [
      { name: 'otlp-http', port: otlp.port },
      { name: 'http', port: api.port },
    ],
    urls: [`http://${o.collectorHttp}/`, `http://${mesh.telemetry.collector}/v1/traces`],
    probe: { kind: 'http', url: `http://${o.collectorHttp}/readyz` },
    after: [],
  });

  specs.push({
    name: CONTROL_PLANE,
    kind: 'control-plane',
    command: node,
    args: [cliMain, 'control-plane', '--mesh', o.meshPath, '--xds', o.xds],
    env: {},
    ports: [{ name: 'xds', port: xds.port }],
    urls: [`grpc://${o.xds}`],
    probe: { kind: 'tcp', host: xds.host, port: xds.port },
    after: [],
  });

  for (const service of mesh.services) {
    for (const w of service.workloads) {
      if (!isShopService(service.name)) {
        throw new UpPlanError(
          `${o.meshPath}: service '${service.name}' has no demo app to run (examples/shop serves ${SHOP_SERVICES.join(', ')})`,
        );
      }
      const endpoint = w.endpoints['http'];
      if (endpoint === undefined)
        throw new UpPlanError(`${o.meshPath}: workload '${w.name}' needs an 'http' endpoint for its app`);
      const listen = split(endpoint, `${o.meshPath}: workload '${w.name}' endpoints.http`);
      if (w.sidecar?.outbound_port === undefined)
        throw new UpPlanError(`${o.meshPath}: workload '${w.name}' needs sidecar.outbound_port (the app's egress)`);
      const version = w.labels['version'] ?? 'v1';
      specs.push({
        name: w.name,
        kind: 'app',
        command: node,
        args: [shopMain],
        env: {
          SHOP_SERVICE: service.name,
          SHOP_VERSION: version,
          SHOP_INSTANCE: w.name,
          SHOP_LISTEN: endpoint,
          SHOP_EGRESS: `127.0.0.1:${w.sidecar.outbound_port}`,
          // A workload with a `grpc` endpoint serves its gRPC methods there (payment's Charge).
          ...(w.endpoints['grpc'] === undefined ? {} : { SHOP_GRPC_LISTEN: w.endpoints['grpc'] }),
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://${mesh.telemetry.collector}`,
          ...EXPORT_ENV,
        },
        ports: [
          { name: 'http', port: listen.port },
          ...(w.endpoints['grpc'] === undefined
            ? []
            : [
                {
                  name: 'grpc',
                  port: split(w.endpoints['grpc'], `${o.meshPath}: workload '${w.name}' endpoints.grpc`).port,
                },
              ]),
        ],
        urls: [`http://${endpoint}/`],
        probe: { kind: 'tcp', host: listen.host, port: listen.port },
        after: [],
      });
      const sidecarName = `${w.name}-sidecar`;
      const admin = w.sidecar.admin_port;
      if (admin === undefined)
        throw new UpPlanError(
          `${o.meshPath}: workload '${w.name}' needs sidecar.admin_port (readiness and Prometheus)`,
        );
      const ports: PortSpec[] = [
        ...Object.entries(w.sidecar.inbound).map(([name, port]) => ({ name: `inbound-${name}`, port })),
        { name: 'outbound', port: w.sidecar.outbound_port },
        { name: 'admin', port: admin },
      ];
      specs.push({
        name: sidecarName,
        kind: 'sidecar',
        command: node,
        args: [
          cliMain,
          'proxy',
          '-c',
          join(o.stateDir, 'bootstrap', `${w.name}.json`),
          '--service-node',
          w.name,
          '--service-cluster',
          service.name,
          ...PROXY_FLAGS,
        ],
        env: EXPORT_ENV,
        ports,
        urls: [`http://127.0.0.1:${admin}/stats/prometheus`],
        // /ready turns 200 once the first xDS round is applied, even when listeners were
        // rejected; a sidecar is ready when its listeners accept connections too.
        probe: {
          kind: 'all',
          probes: [
            { kind: 'http', url: `http://127.0.0.1:${admin}/ready` },
            ...ports
              .filter((p) => p.name !== 'admin')
              .map((p): Probe => ({ kind: 'tcp', host: '127.0.0.1', port: p.port })),
          ],
        },
        // Started at once with everything else: until its app listens it answers 503, and
        // until the control plane listens its xDS client retries (250 ms backoff), so loading
        // the proxy overlaps the others' start instead of following it.
        after: [],
        bootstrap: { nodeId: w.name, path: join(o.stateDir, 'bootstrap', `${w.name}.json`) },
      });
    }
  }

  if (mesh.ingress !== undefined) {
    const ing = mesh.ingress;
    if (ing.admin_port === undefined)
      throw new UpPlanError(`${o.meshPath}: ingress.admin_port is required (readiness and Prometheus)`);
    specs.push({
      name: ing.name,
      kind: 'front-proxy',
      command: node,
      args: [
        cliMain,
        'proxy',
        '-c',
        join(o.stateDir, 'bootstrap', `${ing.name}.json`),
        '--service-node',
        ing.name,
        '--service-cluster',
        ing.name,
        ...PROXY_FLAGS,
      ],
      env: EXPORT_ENV,
      ports: [
        { name: 'http', port: ing.port },
        ...(ing.https_port === undefined ? [] : [{ name: 'https', port: ing.https_port }]),
        { name: 'admin', port: ing.admin_port },
      ],
      urls: [
        `http://127.0.0.1:${ing.port}/`,
        ...(ing.https_port === undefined ? [] : [`https://127.0.0.1:${ing.https_port}/`]),
      ],
      probe: {
        kind: 'all',
        probes: [
          { kind: 'http', url: `http://127.0.0.1:${ing.admin_port}/ready` },
          { kind: 'tcp', host: '127.0.0.1', port: ing.port },
          ...(ing.https_port === undefined ? [] : [{ kind: 'tcp', host: '127.0.0.1', port: ing.https_port } as const]),
        ],
      },
      // Like the sidecars, started at once.
      after: [],
      bootstrap: { nodeId: ing.name, path: join(o.stateDir, 'bootstrap', `${ing.name}.json`) },
    });
  }

  if (o.prometheus !== null) {
    const listen = split(o.prometheus.listen, '--prometheus');
    specs.push({
      name: PROMETHEUS,
      kind: 'prometheus',
      command: o.prometheus.binary,
      args: [
        `--config.file=${join(o.stateDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(o.stateDir, 'prometheus')}`,
        `--web.listen-address=${o.prometheus.listen}`,
        '--log.level=warn',
      ],
      env: {},
      ports: [{ name: 'http', port: listen.port }],
      urls: [`http://${o.prometheus.listen}/graph`],
      probe: { kind: 'http', url: `http://${o.prometheus.listen}/-/ready` },
      after: [],
    });
  }
  return specs;
}

/** Prometheus scrape configuration: every proxy's admin port and the collector's /metrics. */
export function prometheusConfig(specs: readonly ComponentSpec[], collectorHttp: string): string {
  const proxies = specs.filter((s) => s.kind === 'sidecar' || s.kind === 'front-proxy');
  const targets = proxies
    .map((s) => {
      const admin = s.ports.find((p) => p.name === 'admin')!.port;
      return `      - targets: ["127.0.0.1:${admin}"]\n        labels: { node: "${s.bootstrap?.nodeId ?? s.name}" }\n`;
    })
    .join('');
  return (
    `# Written by meshscope up from the mesh file; regenerated at every start.\n` +
    `global:\n  scrape_interval: 5s\n  evaluation_interval: 15s\n\n` +
    `scrape_configs:\n` +
    `  - job_name: meshscope-proxies\n    metrics_path: /stats/prometheus\n    static_configs:\n${targets}` +
    `  - job_name: meshscope-collector\n    metrics_path: /metrics\n    static_configs:\n      - targets: ["${collectorHttp}"]\n`
  );
}
