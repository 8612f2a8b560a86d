// tcp_proxy's flow control with a real proxy process (`node dist/cli/main.js proxy`): 64 MB
// from a fast server to a client that first reads nothing and then reads slowly, and 48 MB from
// a fast client to a server that reads slowly. The proxy must pass the pressure on instead of
// buffering: while the client reads nothing, the server is blocked after a few MB (kernel
// buffers included) and the proxy's RSS barely moved; over the whole transfer its peak RSS grows
// by less than the transfer (what growth there is, is read buffers awaiting the next scavenge:
// measured ~33 MB for 48 MB and for 96 MB alike), and every byte arrives intact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, request } from '../helpers.js';
import { startTcpServer, statsOf, tcpBootstrap, tcpListener, type TcpServer } from './helpers.js';

const TOTAL = 64 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31 + 7) & 0xff;
const EXPECTED_SHA = (() => {
  const h = createHash('sha256');
  for (let sent = 0; sent < TOTAL; sent += CHUNK.length) h.update(CHUNK);
  return h.digest('hex');
})();

/** Writes TOTAL bytes of the pattern as fast as `socket` takes them; `progress` counts accepted bytes. */
function pump(socket: net.Socket, progress: { written: number }): void {
  const next = (): void => {
    while (progress.written < TOTAL) {
      progress.written += CHUNK.length;
      if (!socket.write(CHUNK)) {
        socket.once('drain', next);
        return;
      }
    }
    socket.end();
  };
  next();
}

/** Reads everything with a pause after every read (a reader slower than the writer). */
function slowRead(socket: net.Socket): Promise<{ bytes: number; sha: string }> {
  return new Promise((resolve) => {
    const h = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
      socket.pause();
      setTimeout(() => socket.resume(), 1);
    });
    socket.on('end', () => resolve({ bytes, sha: h.digest('hex') }));
    socket.resume();
  });
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

/** Resolves once `progress.written` stopped growing for five checks in a row (the writer is blocked). */
async function stalled(progress: { written: number }): Promise<void> {
  let last = -1;
  let still = 0;
  while (still < 5) {
    await new Promise((r) => setTimeout(r, 100));
    still = progress.written === last ? still + 1 : 0;
    last = progress.written;
  }
}

describe('tcp_proxy flow control (proxy process)', () => {
  let child: ChildProcess;
  let fast: TcpServer;
  let slow: TcpServer;
  let downloadPort: number;
  let uploadPort: number;
  let adminPort: number;
  const serverProgress = { written: 0 };
  let slowResult: Promise<{ bytes: number; sha: string }>;

  beforeAll(async () => {
    fast = await startTcpServer((s) => pump(s, serverProgress));
    let resolveSlow!: (r: { bytes: number; sha: string }) => void;
    slowResult = new Promise((r) => (resolveSlow = r));
    slow = await startTcpServer((s) => {
      void slowRead(s).then((r) => {
        s.end();
        resolveSlow(r);
      });
    });
    [downloadPort, uploadPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const cfg = tcpBootstrap(
      [
        tcpListener('download', { stat_prefix: 'download', cluster: 'fast' }, downloadPort),
        tcpListener('upload', { stat_prefix: 'upload', cluster: 'slow' }, uploadPort),
      ],
      [
        { name: 'fast', ports: [fast.port] },
        { name: 'slow', ports: [slow.port] },
      ],
    ) as { admin: { address: { socket_address: { port_value: number } } } };
    cfg.admin.address.socket_address.port_value = adminPort;
    const file = join(mkdtempSync(join(tmpdir(), 'ms-tcp-bp-')), 'envoy.yaml');
    writeFileSync(file, stringify(cfg));
    child = spawn(process.execPath, ['dist/cli/main.js', 'proxy', '-c', file, '-l', 'warning', '--concurrency', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    for (;;) {
      const ready = await request(adminPort, '/ready').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      if (child.exitCode !== null) throw new Error('proxy exited');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await fast?.close();
    await slow?.close();
  });

  it('a client that stops reading stops the server, not the proxy’s memory', async () => {
    const pid = child.pid!;
    const before = rssMb(pid, 'VmRSS');
    const client = net.connect(downloadPort, '127.0.0.1');
    client.pause();
    await new Promise((r) => client.once('connect', r));
    // Nothing is read: the server's writes must stop once the sockets' buffers are full.
    await stalled(serverProgress);
    // Measured: ~7.5 MB in flight, RSS +3.6 MB.
    expect(serverProgress.written).toBeLessThan(24 * 1024 * 1024);
    expect(rssMb(pid, 'VmRSS') - before).toBeLessThan(16);
    const r = await slowRead(client);
    expect(r.bytes).toBe(TOTAL);
    expect(r.sha).toBe(EXPECTED_SHA);
    expect(rssMb(pid, 'VmHWM') - before).toBeLessThan(48);
  });

  it('a server that reads slowly pauses the client’s side and counts it', async () => {
    const client = net.connect(uploadPort, '127.0.0.1');
    const progress = { written: 0 };
    client.once('connect', () => pump(client, progress));
    client.resume();
    const r = await slowResult;
    expect(r.bytes).toBe(TOTAL);
    expect(r.sha).toBe(EXPECTED_SHA);
    const stats = await statsOf(adminPort);
    expect(stats.get('tcp.upload.downstream_flow_control_paused_reading_total')).toBeGreaterThan(0);
    expect(stats.get('tcp.upload.downstream_flow_control_resumed_reading_total')).toBeGreaterThan(0);
    expect(stats.get('tcp.upload.downstream_cx_rx_bytes_total')).toBe(TOTAL);
    client.destroy();
  });
});
