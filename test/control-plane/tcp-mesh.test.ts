// A mesh.yaml with a `protocol: TCP` port: the control plane renders tcp_proxy listeners
// (inbound on the service's sidecar, outbound on each caller's `outbound_tcp` port) that load in
// meshscope's proxy and cross xDS's protobuf; two sidecars started from the rendered bootstraps
// carry a real TCP client's bytes to the application and report Istio's TCP metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MeshValidationError,
  nodeResources,
  parseMesh,
  renderDynamicBootstrap,
  renderStaticBootstrap,
  startControlPlane,
  type ControlPlane,
  type JsonObject,
  type Mesh,
} from '../../control-plane/index.js';
import { startProxy, type ProxyServer } from '../../proxy/index.js';
import { proxyResourceValidator as validator } from '../../proxy/xds/validator.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import { freePort, request } from '../proxy/helpers.js';
import { exchange, startTcpServer, type TcpServer } from '../proxy/tcp-proxy/helpers.js';

interface Ports {
  dbInbound: number;
  dbOutbound: number;
  dbAdmin: number;
  clientInbound: number;
  clientOutbound: number;
  clientToDb: number;
  clientAdmin: number;
}

function meshYaml(app: number, p: Ports, outboundTcpKey = 'db:postgres'): string {
  return stringify({
    name: 'tcp-mesh',
    services: [
      {
        name: 'db',
        ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
        workloads: [
          {
            name: 'db-1',
            labels: { version: 'v1' },
            endpoints: { postgres: `127.0.0.1:${app}` },
            sidecar: { inbound: { postgres: p.dbInbound }, outbound_port: p.dbOutbound, admin_port: p.dbAdmin },
          },
        ],
      },
      {
        name: 'client',
        ports: [{ name: 'http', port: 8080 }],
        workloads: [
          {
            name: 'client-1',
            labels: { version: 'v1' },
            endpoints: { http: '127.0.0.1:1' },
            sidecar: {
              inbound: { http: p.clientInbound },
              outbound_port: p.clientOutbound,
              outbound_tcp: { [outboundTcpKey]: p.clientToDb },
              admin_port: p.clientAdmin,
            },
          },
        ],
      },
    ],
  });
}

const MESSAGE = 'envoy.config.listener.v3.Listener';

async function freePorts(): Promise<Ports> {
  return {
    dbInbound: await freePort(),
    dbOutbound: await freePort(),
    dbAdmin: await freePort(),
    clientInbound: await freePort(),
    clientOutbound: await freePort(),
    clientToDb: await freePort(),
    clientAdmin: await freePort(),
  };
}

describe('a mesh with a TCP port', () => {
  let app: TcpServer;
  let ports: Ports;
  let mesh: Mesh;
  let cp: ControlPlane | undefined;
  const proxies: ProxyServer[] = [];

  beforeAll(async () => {
    app = await startTcpServer();
    ports = await freePorts();
    mesh = parseMesh(meshYaml(app.port, ports));
  });

  afterAll(async () => {
    for (const p of proxies) await p.close(1000);
    await cp?.close();
    await app?.close();
  });

  it('renders tcp_proxy listeners that the proxy accepts and protobuf carries', () => {
    const db = nodeResources(mesh, 'db-1', { kind: 'ads' });
    const inbound = db.listeners.get(`inbound|${ports.dbInbound}`) as JsonObject;
    expect(inbound).toMatchObject({
      traffic_direction: 'INBOUND',
      filter_chains: [
        {
          filters: [
            { name: 'istio.stats' },
            {
              name: 'envoy.filters.network.tcp_proxy',
              typed_config: { cluster: 'inbound|5432||', stat_prefix: 'inbound|5432||' },
            },
          ],
        },
      ],
    });
    const client = nodeResources(mesh, 'client-1', { kind: 'ads' });
    const outbound = client.listeners.get(`outbound|${ports.clientToDb}`) as JsonObject;
    expect(outbound).toMatchObject({
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [{}, { typed_config: { cluster: 'outbound|5432||default/db' } }] }],
    });
    // No HTTP/2 options on a TCP cluster, and no HTTP virtual host for a TCP port.
    expect(client.clusters.get('outbound|5432||default/db')).not.toHaveProperty('typed_extension_protocol_options');
    const routes = JSON.stringify([...client.routes.values()]);
    expect(routes).not.toContain('5432');
    for (const l of [inbound, outbound]) {
      expect(validator.listener(l)).toEqual([]);
      expect(decodeMessage(MESSAGE, encodeMessage(MESSAGE, l as JsonValue))).toEqual(l);
    }
  });

  it('carries a TCP client through both sidecars and reports Istio TCP metrics', async () => {
    for (const node of ['db-1', 'client-1']) {
      proxies.push(
        await startProxy({
          config: renderStaticBootstrap(mesh, node),
          concurrency: 1,
          logLevel: 'off',
          drainTimeSeconds: 1,
        }),
      );
    }
    const payload = Buffer.alloc(50_000, 7);
    const r = await exchange(ports.clientToDb, payload);
    expect(r.data.equals(payload)).toBe(true);
    const scrape = async (admin: number, want: RegExp): Promise<string> => {
      for (;;) {
        const text = (await request(admin, '/stats/prometheus')).body;
        if (want.test(text)) return text;
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    const source = await scrape(ports.clientAdmin, /istio_tcp_connections_closed_total\{/);
    expect(source).toMatch(
      /istio_tcp_sent_bytes_total\{reporter="source",source_workload="client-1",[^}]*destination_service="db\.default\.svc\.cluster\.local",destination_service_name="db",destination_service_namespace="default",[^}]*request_protocol="tcp",response_flags="-"[^}]*\} 50000\n/,
    );
    const dest = await scrape(ports.dbAdmin, /istio_tcp_connections_closed_total\{/);
    expect(dest).toMatch(
      /istio_tcp_received_bytes_total\{reporter="destination",[^}]*destination_workload="db-1",[^}]*\} 50000\n/,
    );
  });

  it('serves the TCP listeners over xDS (gRPC ADS) to sidecars that carry the bytes', async () => {
    const p = await freePorts();
    const text = meshYaml(app.port, p);
    const file = join(mkdtempSync(join(tmpdir(), 'ms-tcp-mesh-')), 'mesh.yaml');
    writeFileSync(file, text);
    cp = await startControlPlane({ meshPath: file, port: 0, log: () => undefined });
    const served = parseMesh(text);
    for (const node of ['db-1', 'client-1']) {
      const config = renderDynamicBootstrap(served, node, { xds: `127.0.0.1:${cp.port}`, api: 'GRPC' });
      proxies.push(await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 }));
    }
    const client = proxies[proxies.length - 1]!;
    expect(client.listeners().map((l) => l.name)).toContain(`outbound|${p.clientToDb}`);
    const payload = Buffer.from('over xds\n'.repeat(2000));
    const r = await exchange(p.clientToDb, payload);
    expect(r.data.equals(payload)).toBe(true);
  });

  it('refuses an outbound_tcp entry that names a non-TCP port, with its path', () => {
    const bad = meshYaml(1, ports, 'client:http');
    expect(() => parseMesh(bad)).toThrow(MeshValidationError);
    expect(() => parseMesh(bad)).toThrow(
      /services\[1\]\.workloads\[0\]\.sidecar\.outbound_tcp\.client:http.*port 'http' of service client\.default is HTTP, not TCP/,
    );
    expect(() => parseMesh(meshYaml(1, ports, 'nosuch:postgres'))).toThrow(/no service named 'nosuch'/);
  });
});
