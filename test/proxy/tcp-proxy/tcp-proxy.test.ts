// envoy.filters.network.tcp_proxy with real sockets: bytes both ways through one and two
// proxies, half-close, idle timeout, connect failures (UF) and max_connect_attempts, weighted
// clusters, the max_connections circuit breaker (UO), HTTP through a TCP listener, the access
// log line and Envoy's tcp.* and cluster stats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProxy, validateBootstrap, ConfigInvalidError, type ProxyServer } from '../../../proxy/index.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../../proxy/xds/index.js';
import { startUpstream, type Upstream } from '../helpers.js';
import {
  deadPort,
  exchange,
  FILE_LOG_TYPE,
  namedServer,
  startTcpServer,
  statsOf,
  tcpBootstrap,
  tcpListener,
  type TcpServer,
  waitForLines,
  waitForStat,
} from './helpers.js';

const execFileAsync = promisify(execFile);
const LOG_FORMAT =
  '%DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESPONSE_FLAGS% %PROTOCOL% %CONNECTION_TERMINATION_DETAILS%\n';

interface Running {
  readonly server: ProxyServer;
  readonly adminPort: number;
  port(listener: string): number;
}

async function run(config: unknown): Promise<Running> {
  const server = await startProxy({ config, concurrency: 1, logLevel: 'off', drainTimeSeconds: 1 });
  const ports = new Map(
    server.listeners().map((l) => [l.name, Number(l.localAddress.slice(l.localAddress.lastIndexOf(':') + 1))]),
  );
  return { server, adminPort: server.adminAddress()!.port, port: (name) => ports.get(name)! };
}

function fileLog(path: string): unknown[] {
  return [
    {
      name: 'envoy.access_loggers.file',
      typed_config: { '@type': FILE_LOG_TYPE, path, log_format: { text_format: LOG_FORMAT } },
    },
  ];
}

describe('tcp_proxy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tcp-'));
  const logPath = join(dir, 'access.log');
  const cleanups: Array<() => Promise<void>> = [];
  let echo: TcpServer;
  let halfClose: TcpServer;
  let http: Upstream;
  let blue: TcpServer;
  let green: TcpServer;
  let dead: number;
  /** Reads nothing until the test resumes it; then reports how much it got. */
  let stalled: TcpServer;
  let stalledSocket: Promise<net.Socket>;
  let proxy: Running;
  let front: Running;

  beforeAll(async () => {
    echo = await startTcpServer();
    // Reads until the client's FIN, then answers with what it counted and ends its side.
    halfClose = await startTcpServer((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => s.end(`got ${n} bytes`));
    });
    http = await startUpstream('http-app');
    blue = await namedServer('blue');
    green = await namedServer('green');
    dead = await deadPort();
    let gotSocket!: (s: net.Socket) => void;
    stalledSocket = new Promise((r) => (gotSocket = r));
    stalled = await startTcpServer((s) => {
      s.pause();
      gotSocket(s);
    });
    cleanups.push(
      () => echo.close(),
      () => halfClose.close(),
      () => http.close(),
      () => blue.close(),
      () => green.close(),
      () => stalled.close(),
    );
    proxy = await run(
      tcpBootstrap(
        [
          tcpListener('echo', { stat_prefix: 'echo', cluster: 'echo', access_log: fileLog(logPath) }),
          tcpListener('half', { stat_prefix: 'half', cluster: 'half' }),
          tcpListener('idle', { stat_prefix: 'idle', cluster: 'echo', idle_timeout: '0.2s' }),
          tcpListener('dead', {
            stat_prefix: 'dead',
            cluster: 'dead',
            max_connect_attempts: 3,
            access_log: fileLog(join(dir, 'dead.log')),
          }),
          tcpListener('retry', { stat_prefix: 'retry', cluster: 'flaky', max_connect_attempts: 2 }),
          tcpListener('weighted', {
            stat_prefix: 'weighted',
            weighted_clusters: {
              clusters: [
                { name: 'blue', weight: 1 },
                { name: 'green', weight: 3 },
              ],
            },
          }),
          tcpListener('limited', {
            stat_prefix: 'limited',
            cluster: 'limited',
            access_log: fileLog(join(dir, 'limited.log')),
          }),
          tcpListener('http', { stat_prefix: 'http', cluster: 'http' }),
          tcpListener('nowhere', { stat_prefix: 'nowhere', cluster: 'missing' }),
          tcpListener('flush', { stat_prefix: 'flush', cluster: 'stalled' }),
          tcpListener('hostless', {
            stat_prefix: 'hostless',
            cluster: 'empty',
            access_log: fileLog(join(dir, 'hostless.log')),
          }),
          tcpListener('sticky', { stat_prefix: 'sticky', cluster: 'ring', hash_policy: [{ source_ip: {} }] }),
        ],
        [
          { name: 'echo', ports: [echo.port] },
          { name: 'half', ports: [halfClose.port] },
          { name: 'dead', ports: [dead] },
          // Round robin from the dead endpoint: every first attempt fails, every second succeeds.
          { name: 'flaky', ports: [dead, echo.port] },
          { name: 'blue', ports: [blue.port] },
          { name: 'green', ports: [green.port] },
          {
            name: 'limited',
            ports: [echo.port],
            extra: { circuit_breakers: { thresholds: [{ max_connections: 1 }] } },
          },
          { name: 'http', ports: [http.port] },
          { name: 'stalled', ports: [stalled.port] },
          { name: 'empty', ports: [] },
          { name: 'ring', ports: [blue.port, green.port], extra: { lb_policy: 'RING_HASH' } },
        ],
      ),
    );
    cleanups.push(() => proxy.server.close(1000));
    // A second proxy in front of the first: client → front → proxy → echo.
    const second = tcpBootstrap(
      [tcpListener('front', { stat_prefix: 'front', cluster: 'inner' })],
      [{ name: 'inner', ports: [proxy.port('echo')] }],
    );
    front = await run(second);
    cleanups.push(() => front.server.close(1000));
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('relays bytes both ways, logs one line per connection and counts Envoy stats', async () => {
    const payload = Buffer.alloc(200_000, 'x');
    const r = await exchange(proxy.port('echo'), payload);
    expect(r.ended).toBe(true);
    expect(r.data.equals(payload)).toBe(true);
    const stats = await waitForStat(proxy.adminPort, 'tcp.echo.downstream_cx_tx_bytes_total', 200_000);
    expect(stats.get('tcp.echo.downstream_cx_total')).toBe(1);
    expect(stats.get('tcp.echo.downstream_cx_rx_bytes_total')).toBe(200_000);
    expect(stats.get('cluster.echo.upstream_cx_total')).toBe(1);
    expect(stats.get('cluster.echo.upstream_cx_tx_bytes_total')).toBe(200_000);
    expect(stats.get('cluster.echo.upstream_cx_rx_bytes_total')).toBe(200_000);
    const [line] = await waitForLines(logPath, 1);
    expect(line).toMatch(
      new RegExp(`^127\\.0\\.0\\.1:\\d+ 127\\.0\\.0\\.1:${echo.port} echo 200000 200000 \\d+ - - -$`),
    );
    const after = await waitForStat(proxy.adminPort, 'cluster.echo.upstream_cx_total', 1);
    expect(after.get('cluster.echo.upstream_cx_active')).toBe(0);
  });

  it('carries bytes through two proxies', async () => {
    const payload = Buffer.from('through two proxies\n'.repeat(1000));
    const r = await exchange(front.port('front'), payload);
    expect(r.data.equals(payload)).toBe(true);
  });

  it('passes a half-close on: the server sees the FIN and still answers', async () => {
    const r = await exchange(proxy.port('half'), Buffer.alloc(12_345, 1));
    expect(r.data.toString()).toBe('got 12345 bytes');
    expect(r.ended).toBe(true);
  });

  it('closes a connection idle for idle_timeout and counts it', async () => {
    const s = net.connect(proxy.port('idle'), '127.0.0.1');
    s.on('error', () => {});
    const echoed = await new Promise<string>((resolve) => {
      s.once('connect', () => s.write('ping'));
      s.once('data', (d: Buffer) => resolve(d.toString()));
    });
    expect(echoed).toBe('ping');
    await new Promise((r) => s.once('close', r));
    const stats = await waitForStat(proxy.adminPort, 'tcp.idle.idle_timeout', 1);
    expect(stats.get('tcp.idle.idle_timeout')).toBe(1);
  });

  it('fails with UF after max_connect_attempts connect failures', async () => {
    const r = await exchange(proxy.port('dead'), 'hello');
    expect(r.data.length).toBe(0);
    const stats = await waitForStat(proxy.adminPort, 'cluster.dead.upstream_cx_connect_fail', 3);
    expect(stats.get('cluster.dead.upstream_cx_connect_fail')).toBe(3);
    expect(stats.get('cluster.dead.upstream_cx_total')).toBe(3);
    expect(stats.get('cluster.dead.upstream_cx_connect_attempts_exceeded')).toBe(1);
    const [line] = await waitForLines(join(dir, 'dead.log'), 1);
    expect(line).toMatch(/ dead 5 0 \d+ UF - -$/);
  });

  it('retries a failed connect on another host', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await exchange(proxy.port('retry'), `attempt ${i}`);
      expect(r.data.toString()).toBe(`attempt ${i}`);
    }
    // Round robin starts anywhere: every connection made one successful connect, the rest failed.
    const stats = await statsOf(proxy.adminPort);
    const failed = stats.get('cluster.flaky.upstream_cx_connect_fail')!;
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(stats.get('cluster.flaky.upstream_cx_total')).toBe(4 + failed);
  });

  it('splits connections across weighted_clusters', async () => {
    const seen = { blue: 0, green: 0 } as Record<string, number>;
    for (let i = 0; i < 60; i++) {
      const r = await exchange(proxy.port('weighted'), '');
      seen[r.data.toString()]!++;
    }
    expect(seen.blue! + seen.green!).toBe(60);
    expect(seen.blue).toBeGreaterThan(0);
    expect(seen.green).toBeGreaterThan(seen.blue!);
  });

  it('keeps a client on one host with hash_policy source_ip over RING_HASH', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add((await exchange(proxy.port('sticky'), '')).data.toString());
    expect(seen.size).toBe(1);
  });

  it('refuses a connection over the cluster max_connections with UO', async () => {
    const held = net.connect(proxy.port('limited'), '127.0.0.1');
    held.on('error', () => {});
    await new Promise<void>((resolve) => {
      held.once('connect', () => held.write('hold'));
      held.once('data', () => resolve());
    });
    try {
      const r = await exchange(proxy.port('limited'), 'second');
      expect(r.data.length).toBe(0);
      const stats = await statsOf(proxy.adminPort);
      expect(stats.get('cluster.limited.upstream_cx_overflow')).toBe(1);
      // Refused before anything was read from the client.
      const [line] = await waitForLines(join(dir, 'limited.log'), 1);
      expect(line).toMatch(/ limited 0 0 \d+ UO - -$/);
    } finally {
      held.destroy();
    }
  });

  it('refuses a connection when the cluster has no host, with UH', async () => {
    const r = await exchange(proxy.port('hostless'), 'x');
    expect(r.data.length).toBe(0);
    const [line] = await waitForLines(join(dir, 'hostless.log'), 1);
    expect(line).toMatch(/ - empty 0 0 \d+ UH - -$/);
    expect((await statsOf(proxy.adminPort)).get('cluster.empty.upstream_cx_none_healthy')).toBe(1);
  });

  it('refuses a connection to an unknown cluster and counts downstream_cx_no_route', async () => {
    const r = await exchange(proxy.port('nowhere'), 'x');
    expect(r.data.length).toBe(0);
    const stats = await waitForStat(proxy.adminPort, 'tcp.nowhere.downstream_cx_no_route', 1);
    expect(stats.get('tcp.nowhere.downstream_cx_no_route')).toBe(1);
  });

  it('delivers to the host every byte read from a client that went away while paused', async () => {
    const client = net.connect(proxy.port('flush'), '127.0.0.1');
    client.on('error', () => {});
    await new Promise((r) => client.once('connect', r));
    const chunk = Buffer.alloc(1024 * 1024, 3);
    for (let i = 0; i < 32; i++) client.write(chunk);
    // The host reads nothing: the proxy stops reading the client once the host's side is full.
    await waitForStat(proxy.adminPort, 'tcp.flush.downstream_flow_control_paused_reading_total', 1);
    client.resetAndDestroy();
    // The client's end is seen once the host drains and the proxy reads the client again; what
    // the proxy had read by then still reaches the host, then the FIN.
    const server = await stalledSocket;
    const received = await new Promise<number>((resolve) => {
      let n = 0;
      server.on('data', (d: Buffer) => (n += d.length));
      server.on('end', () => {
        server.end();
        resolve(n);
      });
      server.resume();
    });
    const stats = await statsOf(proxy.adminPort);
    expect(received).toBe(stats.get('tcp.flush.downstream_cx_rx_bytes_total'));
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(32 * 1024 * 1024);
    expect(stats.get('tcp.flush.upstream_flush_active')).toBe(0);
    // Both sides close once the host ended its side too.
    while ((await statsOf(proxy.adminPort)).get('cluster.stalled.upstream_cx_active') !== 0)
      await new Promise((r) => setTimeout(r, 50));
  });

  it('carries HTTP from curl through a tcp_proxy listener', async () => {
    const { stdout } = await execFileAsync('curl', ['-sS', `http://127.0.0.1:${proxy.port('http')}/via-tcp`]);
    expect(JSON.parse(stdout)).toMatchObject({ upstream: 'http-app', url: '/via-tcp' });
  });

  it('crosses xDS protobuf with every supported field unchanged', () => {
    const listener = tcpListener('x', {
      stat_prefix: 'x',
      weighted_clusters: {
        clusters: [
          { name: 'a', weight: 1 },
          { name: 'b', weight: 3 },
        ],
      },
      idle_timeout: '30s',
      max_connect_attempts: 3,
      max_downstream_connection_duration: '60s',
      hash_policy: [{ source_ip: {} }],
      access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG_TYPE, path: '/tmp/x.log' } }],
    }) as JsonValue;
    const type = 'envoy.config.listener.v3.Listener';
    expect(decodeMessage(type, encodeMessage(type, listener))).toEqual(listener);
  });

  it('refuses bad configs with the field path', () => {
    const bad = tcpBootstrap([tcpListener('x', { stat_prefix: 'x', cluster: 'c', idle_timeout: 5 })], []);
    expect(() => validateBootstrap(bad)).toThrow(ConfigInvalidError);
    const both = tcpBootstrap(
      [
        tcpListener('x', {
          stat_prefix: 'x',
          cluster: 'c',
          weighted_clusters: { clusters: [{ name: 'c', weight: 1 }] },
        }),
      ],
      [],
    );
    expect(() => validateBootstrap(both)).toThrow(/exactly one of cluster, weighted_clusters/);
    const unknown = tcpBootstrap(
      [tcpListener('x', { stat_prefix: 'x', cluster: 'c', tunneling_config: { hostname: 'h' } })],
      [],
    );
    expect(() => validateBootstrap(unknown)).toThrow(/typed_config.*tunneling_config/);
  });
});
