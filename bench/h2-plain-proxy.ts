// The ceiling node:http2 sets for an h2c → HTTP/1.1 proxy: a plain node:http2 server (no
// meshscope) that forwards each stream to an HTTP/1.1 keep-alive upstream over a minimal pool of
// raw sockets (one request per connection at a time, LIFO reuse) and answers with the upstream's
// status, headers and body. No filters, stats, header rules or timeouts: what is left is node:http2's own
// per-stream cost plus one upstream write and read, the floor under meshscope's HTTP/2 codec.
// Only for upstreams that answer with content-length (the benchmarks' nginx `return 200`).
// Usage: node dist/bench/h2-plain-proxy.js <listen port> <upstream port>
import http2, { type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';

const [port, upstreamPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(upstreamPort)) {
  process.stderr.write('usage: h2-plain-proxy <listen port> <upstream port>\n');
  process.exit(2);
}

type Done = (headers: OutgoingHttpHeaders, body: Buffer) => void;

interface Upstream {
  socket: Socket;
  done: Done | null;
  pending: Buffer;
}

const idle: Upstream[] = [];
const HEAD_END = Buffer.from('\r\n\r\n');

function connect(): Upstream {
  const socket = net.connect(upstreamPort!, '127.0.0.1');
  socket.setNoDelay(true);
  const u: Upstream = { socket, done: null, pending: Buffer.alloc(0) };
  socket.on('data', (chunk: Buffer) => onData(u, chunk));
  socket.on('error', () => {});
  return u;
}

function onData(u: Upstream, chunk: Buffer): void {
  const buf = u.pending.length === 0 ? chunk : Buffer.concat([u.pending, chunk]);
  const end = buf.indexOf(HEAD_END);
  if (end === -1) {
    u.pending = Buffer.from(buf);
    return;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  // The response head as an HTTP/2 header object, without HTTP/1's connection headers.
  const headers: OutgoingHttpHeaders = { ':status': Number(lines[0]!.slice(9, 12)) };
  let length = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding') continue;
    if (name === 'content-length') length = Number(value);
    headers[name] = value;
  }
  if (buf.length < end + 4 + length) {
    u.pending = Buffer.from(buf);
    return;
  }
  u.pending = Buffer.alloc(0);
  const done = u.done!;
  u.done = null;
  idle.push(u);
  done(headers, Buffer.from(buf.subarray(end + 4, end + 4 + length)));
}

function forward(request: string, done: Done): void {
  const u = idle.pop() ?? connect();
  u.done = done;
  u.socket.write(request, 'latin1');
}

const server = http2.createServer();
server.on('stream', (stream: ServerHttp2Stream, headers) => {
  let request = `${headers[':method']} ${headers[':path']} HTTP/1.1\r\nhost: ${headers[':authority']}\r\n`;
  for (const name in headers) if (name.charCodeAt(0) !== 58) request += `${name}: ${String(headers[name])}\r\n`;
  request += '\r\n';
  forward(request, (responseHeaders, body) => {
    if (stream.destroyed) return;
    stream.respond(responseHeaders);
    stream.end(body);
  });
});
server.listen(port, '127.0.0.1');
