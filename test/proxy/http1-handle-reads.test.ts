// The HTTP/1 codecs take a plaintext TCP connection's reads straight from its native handle
// (shared/stream-wrap.ts's readFromHandle), past net's read callback; pause, resume and end of
// stream still go through net. What that could break, checked with real sockets through one proxy:
// a peer that stops reading must still stop the proxy reading the other side (both directions),
// and an end of stream in the middle of a head or a body must still end the exchange.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap, type RunningProxy, startTestProxy, staticCluster } from './helpers.js';

const TOTAL = 256 * 1024 * 1024;
const BLOCK = Buffer.alloc(1024 * 1024, 0x61);
/** Far below TOTAL, far above the kernel's and the proxy's buffers on both sides. */
const BOUNDED = 64 * 1024 * 1024;

const routes = [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'raw' } }] }];

/** A writer that writes BLOCKs until TOTAL, waiting for 'drain' whenever the socket is full. */
interface Pump {
  sent: number;
  blocked: boolean;
}

function pump(socket: net.Socket, state: Pump, done: () => void): void {
  const go = (): void => {
    state.blocked = false;
    while (state.sent < TOTAL) {
      state.sent += BLOCK.length;
      if (!socket.write(BLOCK)) {
        state.blocked = true;
        socket.once('drain', go);
        return;
      }
    }
    done();
  };
  go();
}

/** Resolves once `state` has waited for 'drain' with no progress over three polls: the reader holds it back. */
async function stalled(state: Pump): Promise<void> {
  let last = -1;
  let still = 0;
  while (still < 3) {
    await new Promise((r) => setTimeout(r, 150));
    if (state.blocked && state.sent === last) still++;
    else still = 0;
    last = state.sent;
    if (state.sent >= TOTAL) return;
  }
}

/** Resolves with what `socket` has received when `enough` says so, or everything once it closes. */
function receive(socket: net.Socket, enough: (got: Buffer) => boolean = () => false): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (enough(Buffer.concat(chunks))) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
  });
}

describe('HTTP/1 reads taken straight from the TCP handle', () => {
  let proxy: RunningProxy;
  let upstream: net.Server;
  /** What each upstream connection does; set by each test before it sends its request. */
  let onUpstream: (socket: net.Socket) => void = (s) => s.destroy();

  beforeAll(async () => {
    upstream = net.createServer((s) => onUpstream(s));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as net.AddressInfo).port;
    proxy = await startTestProxy(
      bootstrap({ virtualHosts: routes, clusters: [staticCluster({ name: 'raw', ports: [port] })] }),
    );
  });

  afterAll(async () => {
    await proxy?.close();
    await new Promise((r) => upstream?.close(r));
  });

  it('a client that stops reading a download stops the upstream writing it; once it reads, every byte arrives', async () => {
    const state: Pump = { sent: 0, blocked: false };
    onUpstream = (s) => {
      s.on('error', () => {});
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${TOTAL}\r\n\r\n`);
        pump(s, state, () => s.end());
      });
    };
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    await new Promise((r) => client.once('connect', r));
    client.write('GET /download HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    const head = await receive(client, (got) => got.length > 0);
    client.removeAllListeners('data');
    client.removeAllListeners('close');
    client.pause();
    await stalled(state);
    expect(state.sent).toBeLessThan(BOUNDED);
    let received = head.length;
    client.on('data', (d: Buffer) => (received += d.length));
    await new Promise((r) => {
      client.on('close', r);
      client.resume();
    });
    expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const headLength = head.indexOf('\r\n\r\n') + 4;
    expect(received - headLength).toBe(TOTAL);
  });

  it('an upstream that stops reading an upload stops the client writing it; once it reads, every byte arrives', async () => {
    let upstreamSocket: net.Socket | null = null;
    let bodyReceived = 0;
    let headSeen = false;
    onUpstream = (s) => {
      upstreamSocket = s;
      s.on('error', () => {});
      let head = '';
      s.on('data', (d: Buffer) => {
        if (!headSeen) {
          head += d.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          headSeen = true;
          bodyReceived = Buffer.byteLength(head, 'latin1') - end - 4;
          s.pause(); // reads nothing more until the test says so
        } else bodyReceived += d.length;
        if (bodyReceived === TOTAL) s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      });
    };
    const client = net.connect(proxy.port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    // The response ends with 'ok'; the proxy keeps the client's connection open after it.
    const response = receive(client, (got) => got.toString('latin1').endsWith('ok'));
    client.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${TOTAL}\r\n\r\n`);
    const state: Pump = { sent: 0, blocked: false };
    pump(client, state, () => {});
    await stalled(state);
    expect(headSeen).toBe(true);
    expect(state.sent).toBeLessThan(BOUNDED);
    upstreamSocket!.resume();
    const raw = (await response).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.endsWith('ok')).toBe(true);
    expect(bodyReceived).toBe(TOTAL);
    client.destroy();
  });

  it('a client that ends its side in the middle of a head gets the connection closed, and nothing goes upstream', async () => {
    let upstreamConnections = 0;
    onUpstream = (s) => {
      upstreamConnections++;
      s.destroy();
    };
    for (const partial of ['GET /x HTTP/1.1\r\nhost: x\r\n', 'GET /x HT']) {
      const client = net.connect(proxy.port, '127.0.0.1');
      const got = receive(client);
      client.end(partial);
      expect((await got).length).toBe(0);
    }
    expect(upstreamConnections).toBe(0);
  });

  it('a client that ends its side in the middle of a body gets the upstream request reset, not completed', async () => {
    let upstreamBytes = '';
    let bodyUpstream!: () => void;
    const bodySeen = new Promise<void>((r) => (bodyUpstream = r));
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    onUpstream = (s) => {
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        upstreamBytes += d.toString('latin1');
        if (upstreamBytes.endsWith('0123456789')) bodyUpstream();
      });
      s.on('close', upstreamClosed);
    };
    const client = net.connect(proxy.port, '127.0.0.1');
    const got = receive(client);
    client.write('POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
    await bodySeen;
    client.end();
    await closed;
    expect(upstreamBytes).toMatch(/^POST \/x HTTP\/1\.1\r\n/);
    expect(upstreamBytes.endsWith('\r\n\r\n0123456789')).toBe(true);
    // The client gets no response (or an error status), never a 200.
    expect((await got).toString('latin1')).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('an upstream that closes in the middle of a body ends the client connection after the bytes it sent', async () => {
    onUpstream = (s) => {
      s.on('error', () => {});
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789'));
    };
    const client = net.connect(proxy.port, '127.0.0.1');
    const got = receive(client);
    client.write('GET /partial HTTP/1.1\r\nhost: x\r\n\r\n');
    const raw = (await got).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.endsWith('0123456789')).toBe(true);
  });
});
