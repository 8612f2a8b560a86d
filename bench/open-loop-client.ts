// The open-loop latency client, run as its own process by bench/lib/open-loop.ts so that the
// benchmark's orchestration (and any other work in that process) never delays a response being
// timed. It sends GET / at a fixed rate regardless of responses (open loop: a slow reply never
// holds back the next request; a new keep-alive connection is opened when all are busy) and
// records, per request, the service time (write to last response byte, what fortio reports
// and Istio publishes) and the time from its scheduled send (wrk2's view, which also counts
// the client's own timer lateness). Sends are paced by 1 ms timer ticks, without
// busy-waiting, so the client does not take the CPU the proxies need.
//
// Usage: node open-loop-client.js PORT RATE SECONDS WARM_SECONDS
// Prints one JSON line: { sent, errors, connections, serviceUs: [...], scheduledUs: [...] }, and
// with OPEN_LOOP_WRITTEN=1 in its environment writtenMs: [...] too, each recorded request's write
// time on CLOCK_MONOTONIC (process.hrtime's clock) in ms, to line requests up with other events.
import { connect, type Socket } from 'node:net';

interface Pending {
  readonly scheduled: bigint;
  readonly written: bigint;
  readonly recorded: boolean;
}

const [port, rate, seconds, warmSeconds] = process.argv.slice(2).map(Number) as [number, number, number, number];
const request = Buffer.from(
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: meshscope-bench-open-loop\r\n\r\n`,
  'latin1',
);
const serviceUs: number[] = [];
const scheduledUs: number[] = [];
let errors = 0;
let sent = 0;
const writtenMs: number[] | null = process.env.OPEN_LOOP_WRITTEN === '1' ? [] : null;

/** One keep-alive connection with at most one request outstanding (the client picks an idle one). */
class Connection {
  readonly socket: Socket;
  readonly #pending: Pending[] = [];
  #received = '';
  /** For a failure's report: when it opened, connected, last answered, and how many answered. */
  readonly #openedNs = process.hrtime.bigint();
  #connectedNs = 0n;
  #answeredNs = 0n;
  #answered = 0;

  constructor() {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.setEncoding('latin1');
    this.socket.once('connect', () => (this.#connectedNs = process.hrtime.bigint()));
    this.socket.on('data', (chunk: string) => this.#onData(chunk));
    this.socket.on('error', (err) => fail(`connection error: ${err.message} (${this.#story()})`));
    this.socket.on('close', () => {
      if (this.#pending.length > 0) fail(`the server closed a connection with requests outstanding (${this.#story()})`);
    });
  }

  /** Where this connection was when it failed: a fresh one, or a kept-alive one and how long idle. */
  #story(): string {
    const now = process.hrtime.bigint();
    const ms = (t: bigint): string => (t === 0n ? 'never' : `${Number(now - t) / 1e6} ms ago`);
    return `opened ${ms(this.#openedNs)}, connected ${ms(this.#connectedNs)}, ${this.#answered} answered, last ${ms(this.#answeredNs)}, ${this.#pending.length} outstanding; ${connections.length} connections, ${sent} sent, ${errors} non-200, ${Number(now - startedNs) / 1e6} ms into the run`;
  }

  send(p: Pending): void {
    this.#pending.push(p);
    this.socket.write(request);
  }

  /** Responses must carry Content-Length (every row under test answers a fixed body). */
  #onData(chunk: string): void {
    this.#received += chunk;
    for (;;) {
      const headEnd = this.#received.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = this.#received.slice(0, headEnd);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (length === null) fail(`a response without content-length: ${head.slice(0, 200)}`);
      const end = headEnd + 4 + Number(length[1]);
      if (this.#received.length < end) return;
      const status = Number(head.slice(9, 12));
      this.#received = this.#received.slice(end);
      const p = this.#pending.shift()!;
      const now = process.hrtime.bigint();
      this.#answered++;
      this.#answeredNs = now;
      if (status !== 200) errors++;
      if (p.recorded) {
        serviceUs.push(Number(now - p.written) / 1000);
        scheduledUs.push(Number(now - p.scheduled) / 1000);
        writtenMs?.push(Number(p.written) / 1e6);
      }
      idle.push(this);
    }
  }
}

function fail(message: string): never {
  process.stderr.write(`open-loop client: ${message}\n`);
  process.exit(1);
}

const connections: Connection[] = [];
const startedNs = process.hrtime.bigint();
const idle: Connection[] = [];

function nextConnection(): Connection {
  const c = idle.pop();
  if (c !== undefined) return c;
  const fresh = new Connection();
  connections.push(fresh);
  return fresh;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

/** RATE requests a second for `secs`, each sent on the first timer tick at or after its scheduled time. */
async function paced(secs: number, recorded: boolean): Promise<void> {
  const total = Math.round(rate * secs);
  const intervalNs = 1e9 / rate;
  const start = process.hrtime.bigint();
  let n = 0;
  while (n < total) {
    const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / intervalNs) + 1);
    for (; n < due; n++) {
      const scheduled = start + BigInt(Math.round(n * intervalNs));
      nextConnection().send({ scheduled, written: process.hrtime.bigint(), recorded });
      sent++;
    }
    await tick();
  }
  // Bounded wait for the stragglers.
  for (let waited = 0; idle.length < connections.length && waited < 10_000; waited += 5)
    await new Promise((r) => setTimeout(r, 5));
}

for (let i = 0; i < 16; i++) idle.push(nextConnection());
await paced(warmSeconds, false);
await paced(seconds, true);
process.stdout.write(
  `${JSON.stringify({ sent, errors, connections: connections.length, serviceUs, scheduledUs, ...(writtenMs === null ? {} : { writtenMs }) })}\n`,
);
for (const c of connections) c.socket.destroy();
