// The upstream connection pool through its interface (ConnectionPool: newStream(decoder,
// callbacks) -> onPoolReady(encoder) | onPoolFailure, drain), with today's HTTP/1.1 pool as the
// implementation, against a real node:http upstream on 127.0.0.1: keep-alive reuse, a stream
// waiting at max_connections for the busy connection, a refused connect, and drain.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionPool, PoolFailureReason } from '../../proxy/core/upstream/conn-pool.js';
import { Http1ConnPool } from '../../proxy/core/upstream/http1-conn-pool.js';
import { ClusterInfo } from '../../proxy/core/upstream/cluster.js';
import { Host } from '../../proxy/core/upstream/host.js';
import { HeaderMap } from '../../proxy/core/http/headers.js';
import type { RequestEncoder, ResponseDecoder } from '../../proxy/core/http/codec/types.js';
import { createStatsStore } from '../../proxy/stats/index.js';

type ClusterConfig = ConstructorParameters<typeof ClusterInfo>[0];

const servers: Server[] = [];
const pools: ConnectionPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

interface Upstream {
  port: number;
  /** Connections the upstream accepted, and how many of them are still open. */
  connections: Socket[];
  open(): number;
}

async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const server = createServer({ keepAlive: true }, handler);
  servers.push(server);
  const connections: Socket[] = [];
  server.on('connection', (s: Socket) => connections.push(s));
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return { port, connections, open: () => connections.filter((s) => !s.destroyed).length };
}

function poolFor(port: number, cluster: Partial<ClusterConfig> = {}): { pool: ConnectionPool; host: Host } {
  const info = new ClusterInfo(
    { name: 'backend', connect_timeout: '1s', ...cluster } as ClusterConfig,
    createStatsStore(),
    false,
  );
  const host = new Host(
    {
      address: '127.0.0.1',
      port,
      hostname: '',
      weight: 1,
      priority: 0,
      locality: { region: '', zone: '', subZone: '' },
      localityWeight: 1,
      healthStatus: 'HEALTHY',
    },
    () => {},
  );
  const pool: ConnectionPool = new Http1ConnPool(host, info);
  host.pool = pool;
  pools.push(pool);
  return { pool, host };
}

interface Result {
  status: number;
  body: string;
}

/** One GET through the pool's interface; `events` records when the pool handed over the stream. */
function get(pool: ConnectionPool, path: string, events: string[]): Promise<Result | PoolFailureReason> {
  return new Promise((resolve) => {
    const result: Result = { status: 0, body: '' };
    const decoder: ResponseDecoder = {
      decode1xxHeaders: () => {},
      decodeHeaders: (status) => {
        events.push(`headers ${path}`);
        result.status = status;
      },
      decodeData: (data, endStream) => {
        result.body += data.toString();
        if (endStream) {
          events.push(`done ${path}`);
          resolve(result);
        }
      },
      onResetStream: () => resolve('connection_failure'),
      decodeTrailers: () => {},
      onProtocolError: () => resolve('connection_failure'),
      onWriteBufferWatermark: () => {},
    };
    pool.newStream(decoder, {
      onPoolReady(encoder: RequestEncoder) {
        events.push(`ready ${path}`);
        const h = new HeaderMap();
        h.add(':authority', 'backend');
        h.add(':path', path);
        h.add(':method', 'GET');
        encoder.encodeHeaders(h, true);
      },
      onPoolFailure: (reason) => resolve(reason),
    });
  });
}

describe('the HTTP/1.1 connection pool through the ConnectionPool interface', () => {
  it('reuses an idle keep-alive connection for the next stream', async () => {
    const up = await startUpstream((req, res) => res.end(`hello ${req.url}`));
    const { pool, host } = poolFor(up.port);
    const events: string[] = [];
    expect(await get(pool, '/a', events)).toEqual({ status: 200, body: 'hello /a' });
    expect(await get(pool, '/b', events)).toEqual({ status: 200, body: 'hello /b' });
    expect(up.connections).toHaveLength(1);
    expect(host.stats.cx_total).toBe(1);
  });

  it('at max_connections 1, a second stream waits for the busy connection and gets it once released', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 100);
      else res.end('fast');
    });
    const { pool, host } = poolFor(up.port, { circuit_breakers: { thresholds: [{ max_connections: 1 }] } });
    const events: string[] = [];
    const [slow, fast] = await Promise.all([get(pool, '/slow', events), get(pool, '/fast', events)]);
    expect(slow).toEqual({ status: 200, body: 'slow' });
    expect(fast).toEqual({ status: 200, body: 'fast' });
    // The connection is handed on as soon as the slow response is read, before its end is delivered.
    expect(events).toEqual([
      'ready /slow',
      'headers /slow',
      'ready /fast',
      'done /slow',
      'headers /fast',
      'done /fast',
    ]);
    expect(up.connections).toHaveLength(1);
    expect(host.stats.cx_total).toBe(1);
  });

  it('fails a stream whose connect is refused, and counts it', async () => {
    const up = await startUpstream((_req, res) => res.end());
    const port = up.port;
    servers.splice(0).forEach((s) => s.close());
    await new Promise((r) => setTimeout(r, 20));
    const { pool, host } = poolFor(port);
    expect(await get(pool, '/', [])).toBe('connection_failure');
    expect(host.stats.cx_connect_fail).toBe(1);
  });

  it('drain closes idle connections', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    const { pool } = poolFor(up.port);
    await get(pool, '/', []);
    expect(up.open()).toBe(1);
    pool.drain();
    while (up.open() > 0) await new Promise((r) => setTimeout(r, 10));
    expect(up.connections).toHaveLength(1);
  });
});
