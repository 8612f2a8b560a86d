// The node floor of bench:loadgen: the least a Node HTTP/1.1 client can do per request against the
// bench's nginx (`return 200`, an empty body), beside meshscope, autocannon and wrk in the same
// rounds. 50 keep-alive connections, each writing one fixed request head, reading into one shared
// buffer (net's `onread`, as meshscope's transport does) and writing the next request when it has
// seen the blank line that ends the response. No parser, timings, metrics, promises or script: what
// is left is Node's socket write and read path and the kernel's loopback, so its CPU per request is
// what any Node client pays before doing a load generator's work, and its ratio to wrk says how
// close to wrk a client on one Node thread can come on this host.
//
// The source runs as `node --input-type=module -e SOURCE URL SECONDS CONNECTIONS` and prints
// {"requests": N, "seconds": S} on stdout.

export const NODE_FLOOR_SOURCE = `
import * as net from 'node:net';
const [url, seconds, connections] = process.argv.slice(1);
const u = new URL(url);
const head = Buffer.from('GET ' + u.pathname + ' HTTP/1.1\\r\\nHost: ' + u.host + '\\r\\nUser-Agent: node-floor\\r\\n\\r\\n', 'latin1');
const buffer = Buffer.allocUnsafe(64 * 1024);
const OK = Buffer.from('HTTP/1.1 200 ');
let requests = 0;
let stopped = false;
const sockets = [];
for (let i = 0; i < Number(connections); i++) {
  // How much of CRLFCRLF the bytes read so far end with; the status line is checked once.
  let matched = 0;
  let checked = false;
  const socket = net.connect({
    host: u.hostname,
    port: Number(u.port),
    onread: {
      buffer,
      callback: (n) => {
        if (!checked) {
          checked = true;
          if (n < OK.length || buffer.compare(OK, 0, OK.length, 0, OK.length) !== 0) {
            process.stderr.write('node floor: not a 200 response: ' + buffer.toString('latin1', 0, Math.min(n, 80)) + '\\n');
            process.exit(1);
          }
        }
        for (let j = 0; j < n; j++) {
          const b = buffer[j];
          matched = b === (matched % 2 === 0 ? 13 : 10) ? matched + 1 : b === 13 ? 1 : 0;
          if (matched === 4) {
            matched = 0;
            requests++;
            if (!stopped) socket.write(head);
          }
        }
      },
    },
  });
  socket.setNoDelay(true);
  socket.on('connect', () => socket.write(head));
  socket.on('error', (err) => {
    process.stderr.write('node floor: ' + err.message + '\\n');
    process.exit(1);
  });
  sockets.push(socket);
}
const start = performance.now();
setTimeout(() => {
  stopped = true;
  const elapsed = (performance.now() - start) / 1000;
  for (const s of sockets) s.destroy();
  process.stdout.write(JSON.stringify({ requests, seconds: elapsed }) + '\\n');
}, Number(seconds) * 1000);
`;
