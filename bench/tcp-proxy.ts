// `npm run bench:tcp-proxy`: meshscope's envoy.filters.network.tcp_proxy against haproxy in
// `mode tcp` (one thread), side by side in one run, with the upstream hit directly as the
// reference. Two scenarios over the same upstream (a Node server in this process): bulk
// download (each connection streams as fast as it can; MB/s) and ping-pong (each connection
// sends 128 bytes and waits for their echo; round trips/s). Rows run interleaved for
// BENCH_ROUNDS rounds and report medians, the proxy's peak RSS and ratios to haproxy.
// Knobs: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 8), BENCH_ROUNDS (default 3).
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, launch, startMeshscope, stopAll, workDir, type Peer } from './lib/peers.js';
import { median } from './lib/median.js';
import { peakRssMb } from './lib/rss.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BULK = Buffer.alloc(64 * 1024, 0x61);
const PING = Buffer.alloc(128, 0x62);

/** The upstream: a first byte `D` starts an endless download, `E` an echo. */
function startUpstream(): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', (first: Buffer) => {
      if (first[0] === 0x44) {
        const pump = (): void => {
          while (!s.destroyed && s.write(BULK));
          if (!s.destroyed) s.once('drain', pump);
        };
        pump();
        s.resume();
      } else {
        if (first.length > 1) s.write(first.subarray(1));
        s.pipe(s);
      }
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function open(port: number, first: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('error', reject);
    s.once('connect', () => {
      s.write(first);
      resolve(s);
    });
  });
}

async function download(port: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(port, 'D')));
  let bytes = 0;
  for (const s of sockets) s.on('data', (d: Buffer) => (bytes += d.length));
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  for (const s of sockets) s.destroy();
  return bytes / 1024 / 1024 / SECONDS;
}

async function pingPong(port: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(port, 'E')));
  let trips = 0;
  let running = true;
  for (const s of sockets) {
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= PING.length) {
        got -= PING.length;
        trips++;
        if (running) s.write(PING);
      }
    });
    s.on('error', () => {});
    s.write(PING);
  }
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  for (const s of sockets) s.destroy();
  return trips / SECONDS;
}

async function startHaproxyTcp(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const cfg = join(mkdtempSync(join(workDir, 'haproxy-tcp-')), 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${upstreamPort}
`,
  );
  return launch('haproxy-tcp', '/usr/sbin/haproxy', ['-f', cfg, '-db'], port);
}

async function startMeshscopeTcp(upstreamPort: number): Promise<Peer> {
  const port = await freePort();
  const bootstrap = {
    static_resources: {
      listeners: [
        {
          name: 'bench',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.tcp_proxy',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                    stat_prefix: 'bench',
                    cluster: 'up',
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
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'up',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } },
                ],
              },
            ],
          },
        },
      ],
    },
  };
  return startMeshscope('meshscope-tcp-c1', bootstrap, port, ['--concurrency', '1']);
}

interface Row {
  readonly name: string;
  readonly start: ((upstreamPort: number) => Promise<Peer>) | null;
  readonly mbPerSecond: number[];
  readonly roundTripsPerSecond: number[];
  peakRssMb: number;
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const rows: Row[] = [
    { name: 'upstream-direct', start: null, mbPerSecond: [], roundTripsPerSecond: [], peakRssMb: 0 },
    { name: 'meshscope-tcp-c1', start: startMeshscopeTcp, mbPerSecond: [], roundTripsPerSecond: [], peakRssMb: 0 },
    { name: 'haproxy-tcp-1-thread', start: startHaproxyTcp, mbPerSecond: [], roundTripsPerSecond: [], peakRssMb: 0 },
  ];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const row of rows) {
        const peer = row.start === null ? null : await row.start(upstreamPort);
        const port = peer?.port ?? upstreamPort;
        row.mbPerSecond.push(await download(port));
        row.roundTripsPerSecond.push(await pingPong(port));
        if (peer !== null) {
          row.peakRssMb = Math.max(row.peakRssMb, peakRssMb(peer.pid));
          await peer.stop();
        }
      }
    }
  } finally {
    await stopAll();
    upstream.close();
  }
  const haproxy = rows.find((r) => r.name.startsWith('haproxy'))!;
  const out = rows.map((r) => ({
    name: r.name,
    mb_per_s: Math.round(median(r.mbPerSecond)),
    round_trips_per_s: Math.round(median(r.roundTripsPerSecond)),
    peak_rss_mb: r.start === null ? null : r.peakRssMb,
    mb_per_s_vs_haproxy: Math.round((median(r.mbPerSecond) / median(haproxy.mbPerSecond)) * 100) / 100,
    round_trips_vs_haproxy:
      Math.round((median(r.roundTripsPerSecond) / median(haproxy.roundTripsPerSecond)) * 100) / 100,
  }));
  process.stdout.write(
    `${JSON.stringify({ bench: 'tcp-proxy', seconds: SECONDS, connections: CONNECTIONS, rounds: ROUNDS, rows: out }, null, 2)}\n`,
  );
}

await main();
