// The gRPC open-loop latency client, run as its own process by bench/lib/grpc.ts (as
// open-loop-client.ts is for HTTP/1.1): unary calls of /bench.Echo/Echo (64-byte messages) at a
// fixed rate over one @grpc/grpc-js channel, as an application's client would make them, sent
// regardless of replies (open loop). Per call it records the service time (call to callback)
// and the time from its scheduled send; paced by 1 ms timer ticks, no busy-waiting.
//
// Usage: node grpc-open-loop-client.js PORT RATE SECONDS WARM_SECONDS
// Prints one JSON line: { sent, errors, errorsByStatus, connections, clientCpuUsPerCall, serviceUs: [...], scheduledUs: [...] },
// errorsByStatus counting the failed calls by "<grpc status> <details>" (which sidecar refused them, and why).
import * as grpc from '@grpc/grpc-js';
import { runPhases } from './lib/grpc-client-phases.js';

const [port, rate, seconds, warmSeconds] = process.argv.slice(2).map(Number) as [number, number, number, number];
const bytes = (b: Buffer): Buffer => b;
const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const payload = Buffer.alloc(64, 0x61);
const serviceUs: number[] = [];
const scheduledUs: number[] = [];
let errors = 0;
let sent = 0;
let outstanding = 0;
const errorsByStatus: Record<string, number> = {};

function callOnce(scheduled: bigint, recorded: boolean): void {
  const written = process.hrtime.bigint();
  outstanding++;
  sent++;
  client.makeUnaryRequest('/bench.Echo/Echo', bytes, bytes, payload, new grpc.Metadata(), {}, (err) => {
    outstanding--;
    const now = process.hrtime.bigint();
    if (err !== null) {
      errors++;
      const key = `${err.code} ${err.details}`;
      errorsByStatus[key] = (errorsByStatus[key] ?? 0) + 1;
    }
    if (recorded) {
      serviceUs.push(Number(now - written) / 1000);
      scheduledUs.push(Number(now - scheduled) / 1000);
    }
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

async function paced(secs: number, recorded: boolean): Promise<void> {
  const total = Math.round(rate * secs);
  const intervalNs = 1e9 / rate;
  const start = process.hrtime.bigint();
  let n = 0;
  while (n < total) {
    const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / intervalNs) + 1);
    for (; n < due; n++) callOnce(start + BigInt(Math.round(n * intervalNs)), recorded);
    await tick();
  }
  for (let waited = 0; outstanding > 0 && waited < 10_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
}

// The channel connects before the clock starts.
await new Promise<void>((resolve, reject) =>
  client.waitForReady(Date.now() + 10_000, (err) => (err === undefined || err === null ? resolve() : reject(err))),
);
await runPhases(paced, rate, seconds, warmSeconds, () => ({ sent, errors, errorsByStatus, serviceUs, scheduledUs }));
client.close();
