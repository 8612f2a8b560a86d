// `npm run bench:xds-transport-floor`: what the xDS server's transport alone costs per sidecar,
// the floor under bench:xds's control-plane CPU per edit. In a full mesh every edit writes one
// push to every sidecar's connection and reads one ACK from each; this does only that, the way
// the xDS server's HTTP/2 connections now do it (a write straight to the socket's handle, reads
// into one shared buffer from the handle: shared/stream-wrap.ts, readIntoBuffer), with no
// HTTP/2, gRPC or xDS work at all. Clients (child processes of BENCH_XDS_CLIENTS_PER_PROCESS
// connections, as bench:xds) answer each message with a reply. Per scale of
// BENCH_XDS_FLOOR_SCALES (53,1000), BENCH_XDS_FLOOR_ROUNDS rounds after 10 unrecorded ones:
// this process's CPU from the writes until every reply was read (process.cpuUsage), p50.
// `added_ms` is what the largest scale adds over the smallest: bench:xds's edit at the smallest
// scale plus `added_ms` is the least its edit at the largest can cost; at 1,000 sidecars this host
// spends ~7-9 us a connection, nearly all in the kernel (a loopback write delivers into the
// client's socket and wakes it in the writer's time).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { readIntoBuffer } from '../proxy/core/network/user-buffer-reads.js';
import { tcpHandleOf, writeToHandle } from '../shared/stream-wrap.js';
import { stealMeter } from './lib/steal.js';

const SCALES = (process.env.BENCH_XDS_FLOOR_SCALES ?? '53,1000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_XDS_FLOOR_ROUNDS ?? 40);
const WARMUP = 10;
const CLIENTS_PER_PROCESS = Number(process.env.BENCH_XDS_CLIENTS_PER_PROCESS ?? 125);
/** About an RDS/EDS push of one service at 1,000 sidecars, and an EDS ACK naming every cluster. */
const PUSH_BYTES = Number(process.env.BENCH_XDS_FLOOR_PUSH_BYTES ?? 4096);
const REPLY_BYTES = Number(process.env.BENCH_XDS_FLOOR_REPLY_BYTES ?? 1024);

function clients(port: number, n: number): void {
  // Replies once per message: a message arrives in one read on loopback at these sizes.
  const reply = Buffer.alloc(REPLY_BYTES, 1);
  const buffer = Buffer.allocUnsafe(64 * 1024);
  for (let i = 0; i < n; i++) {
    const s: net.Socket = net.connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: {
        buffer,
        callback: () => {
          s.write(reply);
          return true;
        },
      },
    });
    s.on('error', () => process.exit(1));
  }
}

const p50 = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] as number;

async function scale(n: number): Promise<{ connections: number; cpu_ms_p50: number; system_ms_p50: number }> {
  const sockets: net.Socket[] = [];
  const read = Buffer.allocUnsafe(64 * 1024);
  let pending = 0;
  let done: () => void = () => undefined;
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    const onRead = (): void => {
      if (--pending === 0) done();
    };
    if (!readIntoBuffer(s, read, onRead)) s.on('data', onRead);
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const procs = [];
  for (let first = 0; first < n; first += CLIENTS_PER_PROCESS)
    procs.push(
      spawn(
        process.execPath,
        [fileURLToPath(import.meta.url), '--clients', String(port), String(Math.min(CLIENTS_PER_PROCESS, n - first))],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      ),
    );
  const deadline = Date.now() + 30_000 + 100 * n;
  while (sockets.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (sockets.length < n) throw new Error(`${n} connections: only ${sockets.length} connected`);
  const push = Buffer.alloc(PUSH_BYTES, 2);
  // Written as the codec writes (writeToHandle: one request object for every write the kernel
  // takes whole); nothing waits for a queued write's completion here.
  const owner = { onHandleWriteComplete: (): void => undefined };
  const cpu: number[] = [];
  const system: number[] = [];
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    pending = n;
    const replies = new Promise<void>((r) => {
      done = r;
    });
    const c0 = process.cpuUsage();
    setImmediate(() => {
      for (const s of sockets) {
        const handle = tcpHandleOf(s);
        if (handle === null) s.write(push);
        else if (writeToHandle(handle, push, owner) < 0) s.destroy();
      }
    });
    await replies;
    const c = process.cpuUsage(c0);
    if (round >= WARMUP) {
      cpu.push((c.user + c.system) / 1000);
      system.push(c.system / 1000);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  for (const p of procs) p.kill('SIGTERM');
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  return { connections: n, cpu_ms_p50: p50(cpu), system_ms_p50: p50(system) };
}

async function main(): Promise<void> {
  const steal = stealMeter();
  const results = [];
  for (const n of SCALES) {
    const r = await scale(n);
    results.push({ ...r, us_per_connection: Math.round((10_000 * r.cpu_ms_p50) / n) / 10 });
  }
  const first = results[0]!;
  const last = results[results.length - 1]!;
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'xds-transport-floor',
        scenario: 'one write per connection, one reply read from each: the transport of one full-mesh edit',
        push_bytes: PUSH_BYTES,
        reply_bytes: REPLY_BYTES,
        rounds: ROUNDS,
        cpu_steal_pct: steal(),
        scales: results,
        added_ms: Math.round(10 * (last.cpu_ms_p50 - first.cpu_ms_p50)) / 10,
        added_us_per_connection:
          Math.round((10_000 * (last.cpu_ms_p50 - first.cpu_ms_p50)) / (last.connections - first.connections)) / 10,
      },
      null,
      2,
    )}\n`,
  );
}

if (process.argv[2] === '--clients') clients(Number(process.argv[3]), Number(process.argv[4]));
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench:xds-transport-floor failed: ${String(err)}\n`);
    process.exit(1);
  });
