// Istio's TCP metrics from two sidecars carrying a TCP service: client → outbound sidecar
// (istio.stats + tcp_proxy, reporter=source) → inbound sidecar (reporter=destination) → echo.
// Both sidecars' /stats/prometheus carry the four istio_tcp_* counters with Istio's labels and
// pass promtool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { request, staticCluster } from '../helpers.js';
import net from 'node:net';
import { exchange, startTcpServer, tcpProxyFilter, type TcpServer } from './helpers.js';

const ISTIO_STATS = {
  name: 'istio.stats',
  typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig' },
};
const OUTBOUND_CLUSTER = 'outbound|9000||db.default.svc.cluster.local';
const INBOUND_CLUSTER = 'inbound|9000||';

function sidecar(
  workload: string,
  direction: 'INBOUND' | 'OUTBOUND',
  cluster: string,
  upstreamPort: number,
  istioStats: Record<string, unknown> = ISTIO_STATS,
): Record<string, unknown> {
  return {
    node: {
      id: `${workload}-1`,
      cluster: workload,
      metadata: { NAMESPACE: 'default', WORKLOAD_NAME: workload, LABELS: { app: workload, version: 'v1' } },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: direction === 'INBOUND' ? 'virtualInbound' : 'db_9000',
          traffic_direction: direction,
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [{ filters: [istioStats, tcpProxyFilter({ stat_prefix: cluster, cluster })] }],
        },
      ],
      clusters: [staticCluster({ name: cluster, ports: [upstreamPort] })],
    },
  };
}

function listenerPort(server: ProxyServer): number {
  const a = server.listeners()[0]!.localAddress;
  return Number(a.slice(a.lastIndexOf(':') + 1));
}

function promtoolProblems(text: string): string[] {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l !== '' &&
        !/should have "_total" suffix|should not have "_total" suffix|use base unit "seconds" instead of "milliseconds"/.test(
          l,
        ),
    );
}

describe('Istio TCP metrics', () => {
  let echo: TcpServer;
  let inbound: ProxyServer;
  let outbound: ProxyServer;

  beforeAll(async () => {
    echo = await startTcpServer();
    inbound = await startProxy({
      config: sidecar('db', 'INBOUND', INBOUND_CLUSTER, echo.port),
      concurrency: 1,
      logLevel: 'off',
      drainTimeSeconds: 1,
    });
    outbound = await startProxy({
      config: sidecar('client', 'OUTBOUND', OUTBOUND_CLUSTER, listenerPort(inbound)),
      concurrency: 1,
      logLevel: 'off',
      drainTimeSeconds: 1,
    });
  });

  afterAll(async () => {
    await outbound?.close(1000);
    await inbound?.close(1000);
    await echo?.close();
  });

  it('reports sent/received bytes and opened/closed connections on both sides', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await exchange(listenerPort(outbound), Buffer.alloc(1000, i));
      expect(r.data.length).toBe(1000);
    }
    // The inbound side reports when its downstream connection closes, just after the client's.
    const scrape = async (server: ProxyServer, want: RegExp): Promise<string> => {
      for (;;) {
        const text = (await request(server.adminAddress()!.port, '/stats/prometheus')).body;
        if (want.test(text)) return text;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const source = await scrape(outbound, /istio_tcp_connections_closed_total\{[^}]*\} 3/);
    const dest = await scrape(inbound, /istio_tcp_connections_closed_total\{[^}]*\} 3/);
    const labels =
      'source_workload="client",source_workload_namespace="default",[^}]*source_app="client",source_version="v1",[^}]*' +
      'destination_service="db\\.default\\.svc\\.cluster\\.local",destination_service_name="db",destination_service_namespace="default",[^}]*' +
      'request_protocol="tcp",response_flags="-"';
    expect(source).toMatch(
      new RegExp(
        `istio_tcp_sent_bytes_total\\{reporter="source",${labels},connection_security_policy="unknown"\\} 3000\\n`,
      ),
    );
    expect(source).toMatch(new RegExp(`istio_tcp_received_bytes_total\\{reporter="source",${labels}[^}]*\\} 3000\\n`));
    expect(source).toMatch(new RegExp(`istio_tcp_connections_opened_total\\{reporter="source",${labels}[^}]*\\} 3\\n`));
    // Without mTLS there is no TCP metadata exchange: the destination knows itself, not its peer.
    expect(dest).toMatch(
      /istio_tcp_received_bytes_total\{reporter="destination",source_workload="unknown",[^}]*destination_workload="db",[^}]*destination_service="db\.default\.svc\.cluster\.local",[^}]*request_protocol="tcp",response_flags="-",connection_security_policy="none"\} 3000\n/,
    );
    expect(dest).toMatch(/istio_tcp_sent_bytes_total\{reporter="destination",[^}]*\} 3000\n/);
    expect(dest).toMatch(/istio_tcp_connections_opened_total\{reporter="destination",[^}]*\} 3\n/);
    expect(source).toMatch(
      /envoy_tcp_downstream_cx_total\{envoy_tcp_prefix="outbound\|9000\|\|db\.default\.svc\.cluster\.local"\} 3/,
    );
    expect(promtoolProblems(source)).toEqual([]);
    expect(promtoolProblems(dest)).toEqual([]);
  });

  it('reports a long-lived connection every tcp_reporting_duration, before it closes', async () => {
    const periodic = await startProxy({
      config: sidecar('client', 'OUTBOUND', OUTBOUND_CLUSTER, echo.port, {
        name: 'istio.stats',
        typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig', tcp_reporting_duration: '0.1s' },
      }),
      concurrency: 1,
      logLevel: 'off',
      drainTimeSeconds: 1,
    });
    const s = net.connect(listenerPort(periodic), '127.0.0.1');
    s.on('error', () => {});
    try {
      await new Promise<void>((resolve) => {
        s.once('connect', () => s.write('x'.repeat(700)));
        let got = 0;
        s.on('data', (d: Buffer) => {
          got += d.length;
          if (got === 700) resolve();
        });
      });
      const admin = periodic.adminAddress()!.port;
      let text = '';
      while (!/istio_tcp_sent_bytes_total\{[^}]*\} 700\n/.test(text)) {
        await new Promise((r) => setTimeout(r, 50));
        text = (await request(admin, '/stats/prometheus')).body;
      }
      expect(text).toMatch(/istio_tcp_connections_opened_total\{reporter="source",[^}]*\} 1\n/);
      expect(text).toMatch(/istio_tcp_received_bytes_total\{reporter="source",[^}]*\} 700\n/);
      expect(text).not.toMatch(/istio_tcp_connections_closed_total\{[^}]*\} [1-9]/);
    } finally {
      s.destroy();
      await periodic.close(1000);
    }
  });
});
