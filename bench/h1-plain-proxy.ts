// The floor Node itself sets for an HTTP/1.1 keep-alive proxy at a low request rate: raw
// net sockets, each downstream request (GET, no body) forwarded whole to an idle upstream
// connection and the upstream's response (content-length framed) written back whole. No
// parsing beyond finding the ends, no headers added, no filters, stats or timers. What a
// meshscope sidecar spends per request above this is meshscope's own (bench/proxy-low-rate.ts).
// Only for bodiless requests and content-length responses (the benchmarks' nginx `return 200`).
// Usage: node dist/bench/h1-plain-proxy.js <listen port> <upstream port>
import net, { type Socket } from 'node:net';

const [port, upstreamPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(upstreamPort)) {
  process.stderr.write('usage: h1-plain-proxy <listen port> <upstream port>\n');
  process.exit(2);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

interface Upstream {
  socket: Socket;
  downstream: Socket | null;
  pending: Buffer;
}

const idle: Upstream[] = [];

function upstream(): Upstream {
  const reused = idle.pop();
  if (reused !== undefined) return reused;
  const socket = net.connect(upstreamPort!, '127.0.0.1');
  socket.setNoDelay(true);
  const u: Upstream = { socket, downstream: null, pending: Buffer.alloc(0) };
  socket.on('data', (chunk: Buffer) => {
    u.pending = u.pending.length === 0 ? chunk : Buffer.concat([u.pending, chunk]);
    const headEnd = u.pending.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const m = CONTENT_LENGTH.exec(u.pending.toString('latin1', 0, headEnd));
    const end = headEnd + 4 + Number(m?.[1] ?? 0);
    if (u.pending.length < end) return;
    const response = u.pending.subarray(0, end);
    u.pending = u.pending.subarray(end);
    const d = u.downstream;
    u.downstream = null;
    idle.push(u);
    d?.write(response);
  });
  socket.on('error', () => socket.destroy());
  return u;
}

net
  .createServer((down) => {
    down.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    down.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf(HEAD_END);
        if (end < 0) return;
        const u = upstream();
        u.downstream = down;
        u.socket.write(pending.subarray(0, end + 4));
        pending = pending.subarray(end + 4);
      }
    });
    down.on('error', () => down.destroy());
  })
  .listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
