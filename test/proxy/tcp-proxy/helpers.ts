// Shared by the tcp_proxy tests: real TCP servers and clients on 127.0.0.1, bootstraps with
// tcp_proxy listeners, and reading stats and access logs from a running proxy.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFileSync, existsSync } from 'node:fs';
import { request, staticCluster } from '../helpers.js';
export { freePort as deadPort } from '../../helpers/ports.js';

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const FILE_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

export interface TcpServer {
  readonly port: number;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/**
 * A server that runs `onSocket` per connection (half-open: it decides when to end its side).
 * The default echoes every byte and ends its side when the client ended its own.
 */
export async function startTcpServer(onSocket?: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const handler =
    onSocket ??
    ((s: net.Socket) => {
      s.pipe(s);
    });
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    result.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    handler(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const result: TcpServer = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  return result;
}

/** A server that answers each connection with `name` and closes. */
export function namedServer(name: string): Promise<TcpServer> {
  return startTcpServer((s) => {
    s.end(name);
    s.resume();
  });
}

/** Connects, writes `data`, half-closes, and resolves with everything read until the peer's FIN or close. */
export function exchange(port: number, data: Buffer | string): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let ended = false;
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      ended = true;
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve({ data: Buffer.concat(chunks), ended }));
    s.once('connect', () => s.end(data));
    s.setTimeout(20_000, () => reject(new Error('exchange timed out')));
  });
}

export function tcpProxyFilter(config: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': TCP_PROXY_TYPE, ...config },
  };
}

export function tcpListener(name: string, tcpProxy: Record<string, unknown>, port = 0): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [tcpProxyFilter(tcpProxy)] }],
  };
}

/** A bootstrap with an admin on an ephemeral port, the given listeners, and static clusters. */
export function tcpBootstrap(
  listeners: unknown[],
  clusters: Array<{ name: string; ports: number[]; extra?: Record<string, unknown> }>,
): Record<string, unknown> {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners,
      clusters: clusters.map((c) => staticCluster({ name: c.name, ports: c.ports, extra: c.extra })),
    },
  };
}

/** `/stats` as a name → value map (counters and gauges). */
export async function statsOf(adminPort: number): Promise<Map<string, number>> {
  const r = await request(adminPort, '/stats');
  const out = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Polls `/stats` until `name` reaches `value` (bounded by the test's own timeout). */
export async function waitForStat(adminPort: number, name: string, value: number): Promise<Map<string, number>> {
  for (;;) {
    const s = await statsOf(adminPort);
    if ((s.get(name) ?? 0) >= value) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls a file until it has `count` lines (the access log sink flushes on a timer). */
export async function waitForLines(path: string, count: number): Promise<string[]> {
  for (;;) {
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '');
      if (lines.length >= count) return lines;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
