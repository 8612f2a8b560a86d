// `npm run bench:http2-attacks`: each HTTP/2 attack of issue 16, sent at meshscope (`--concurrency
// 1`, a child process) for ATTACK_SECONDS (default 10) by ATTACK_CONNECTIONS (default 4; the
// outbound flood, 1) raw-frame clients that reconnect whenever the proxy cuts them off. Prints
// JSON per attack: the proxy's resident memory before, at its highest during the attack (sampled every 100 ms over its
// process tree) and once a second, how many connections the attack needed, and the counters that named it on
// /stats (ATTACK_ONLY=name,… runs some). The goal: RSS grows ≤ 20 MB over a 10 s attack, the counter moves.
//
// Each attack meets a fresh proxy, warmed first by WARM_SECONDS (default 5; 0 for none) of ordinary
// h2 requests on the same connections, the same for every row. A fresh Node process grows its V8
// heap, code space and malloc arenas under any traffic, and before this warm-up the first attack of
// a run paid for all of it (the PING flood: +24.3 MB as the first row, +13.9 MB alone). So each row
// prints both figures: `rssGrowthMb` from the warmed baseline (what the attack itself costs; the
// goal is judged on it) and `rssGrowthFromColdMb` from the fresh process before warm-up. It also
// prints where the growth sits (`memoryBeforeMb`, `memoryAtEndMb`, `growthByKindMb`): V8's heap and
// external/ArrayBuffer bytes from the admin's /memory, and anonymous vs file-backed pages from
// /proc/<pid>/smaps_rollup; `nativeOther` is anonymous memory that is neither (malloc arenas, thread stacks).
// `growthByKindEverySecondMb` has the same split once a second during the attack: the PING flood's
// 20-25 MB was ArrayBuffers of bytes read from clients already cut off (`external` swinging up to
// 30 MB between full GCs), kept as RSS by malloc's main arena once freed; the codec stops reading a
// connection it ends since.
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { freePort, proxyBootstrap, startMeshscope, stopAll } from './lib/peers.js';
import {
  continuation,
  data,
  ErrorCode,
  GET,
  headers,
  hpack,
  hpackIndexed,
  ping,
  priority,
  RawH2,
  rstStream,
  Setting,
  settings,
  windowUpdate,
} from '../test/proxy/h2-frames.js';

const SECONDS = Number(process.env.ATTACK_SECONDS ?? 10);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.ATTACK_CONNECTIONS ?? 4);
const GOAL_MB = 20;
/** Stalled streams per connection at a time (the listener's max_concurrent_streams is 100). */
const STALL_STREAMS = Number(process.env.STALL_STREAMS ?? 100);
/** Streams the outbound flood dribbles to, and how long its open stream has to fill the socket's buffers. */
const DRIBBLE_STREAMS = 4;
const FILL_MS = 200;
const DRIBBLE_MS = 600;

interface Attack {
  readonly name: string;
  readonly counters: readonly string[];
  /** The client's SETTINGS (the stall opens no stream window). */
  readonly settings?: ReadonlyArray<readonly [number, number]>;
  /** Connections at a time, when not ATTACK_CONNECTIONS. */
  readonly connections?: number;
  /** One connection's worth of attack; returns when the connection is closed or the time is up. */
  run(c: RawH2, until: number): Promise<void>;
}

const POST: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'bench'],
];
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
/**
 * The control floods write this many frames at a time, as an attacker that wants throughput
 * does. One frame per write made the row depend on the host: on a quiet one the attacker kept up,
 * on a loaded one it did not, and the proxy's RSS growth went with it (2 to 25 MB).
 */
const CONTROL_FRAMES_PER_WRITE = 64;
const batched = (frame: Buffer): Buffer => Buffer.concat(Array.from({ length: CONTROL_FRAMES_PER_WRITE }, () => frame));

/** Until the socket drains, closes, or the attack's time is up. */
function writable(c: RawH2, until: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      c.socket.off('drain', done);
      c.socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, until - Date.now()));
    c.socket.once('drain', done);
    c.socket.once('close', done);
  });
}

/** Writes `next()` frames while the socket takes them, waiting when it pushes back. */
async function flood(c: RawH2, until: number, next: (i: number) => Buffer): Promise<void> {
  for (let i = 0; !c.closed && Date.now() < until; i++) {
    if (!c.send(next(i))) await writable(c, until);
    if (i % 256 === 0) await tick();
  }
}

const attacks: Attack[] = [
  {
    // Not an attack: the same connections making ordinary requests, for the RSS a busy proxy
    // reaches anyway (V8 grows its heap with the allocation rate, then holds it).
    name: 'control_ordinary_requests',
    counters: ['http.bench.downstream_rq_2xx'],
    run: async (c, until) => {
      // An ordinary client keeps the connection's receive window open; without it the proxy
      // stops at the first 65,535 bytes of responses, as flow control says it must.
      c.send(windowUpdate(0, 0x7fffffff - 65_535));
      for (let id = 1; !c.closed && Date.now() < until; id += 200) {
        for (let i = 0; i < 100; i++) c.send(headers(id + 2 * i, hpack(GET('/')), { endStream: true }));
        // The last stream's end: its END_STREAM, or its reset (a stream idle timeout on a loaded host).
        await c.waitFor((f) => f.streamId === id + 198 && (f.type === 3 || (f.type <= 1 && (f.flags & 1) === 1)));
        c.frames.length = 0;
      }
    },
  },
  {
    name: 'rapid_reset',
    counters: ['http2.rx_reset', 'http.bench.downstream_rq_too_many_premature_resets'],
    run: (c, until) =>
      flood(c, until, (i) =>
        Buffer.concat([
          headers(1 + 2 * i, hpack(GET('/')), { endStream: true }),
          rstStream(1 + 2 * i, ErrorCode.CANCEL),
        ]),
      ),
  },
  {
    name: 'continuation_flood',
    counters: ['http2.header_overflow'],
    run: async (c, until) => {
      c.send(headers(1, hpack(GET('/')), { endHeaders: false }));
      await flood(c, until, (i) => continuation(1, hpack([[`x-c${i}`, 'v']]), false));
    },
  },
  {
    name: 'ping_flood',
    counters: ['http2.outbound_control_flood'],
    run: async (c, until) => {
      c.socket.pause();
      const pings = batched(ping());
      await flood(c, until, () => pings);
    },
  },
  {
    // A client that never reads (CVE-2019-9511, data dribble), bounded by max_outbound_frames
    // (default 10000): DRIBBLE_STREAMS streams get their response heads and no window for a body;
    // one more stream with an open window fills the socket's buffers, and then each WINDOW_UPDATE
    // of 1 byte earns a DATA frame of 1 byte, so the frames queued pass the limit long before
    // their bytes reach the connection's buffer limit. Within stream_idle_timeout, which resets
    // the stalled streams otherwise.
    name: 'outbound_flood',
    counters: ['http2.outbound_flood'],
    settings: [[Setting.INITIAL_WINDOW_SIZE, 0]],
    // One at a time: concurrent ones share the upstream and the host, and on a loaded host their
    // streams' heads arrive too late to be dribbled to before the idle timeout resets them.
    connections: 1,
    run: async (c, until) => {
      c.send(windowUpdate(0, 0x7fffffff - 65_535));
      const ids = Array.from({ length: DRIBBLE_STREAMS }, (_, i) => 1 + 2 * i);
      for (const id of ids) c.send(headers(id, hpack(GET('/big')), { endStream: true }));
      for (const id of ids) if ((await c.waitFor((f) => f.type === 1 && f.streamId === id)) === null) return;
      const fill = 1 + 2 * DRIBBLE_STREAMS;
      c.socket.pause();
      c.send(headers(fill, hpack(GET('/big')), { endStream: true }), windowUpdate(fill, 0x7fffffff));
      await new Promise((r) => setTimeout(r, FILL_MS));
      // Within the streams' idle timeout (1 s here) after their heads; then a fresh connection.
      const stop = Math.min(until, Date.now() + DRIBBLE_MS);
      for (let i = 0; !c.closed && Date.now() < stop; i++) {
        if (!c.send(windowUpdate(ids[i % ids.length]!, 1))) await new Promise((r) => setTimeout(r, 1));
        if (i % 256 === 0) await tick();
      }
      c.destroy();
    },
  },
  {
    name: 'settings_flood',
    counters: ['http2.outbound_control_flood'],
    run: async (c, until) => {
      c.socket.pause();
      const frames = batched(settings([[Setting.ENABLE_PUSH, 0]]));
      await flood(c, until, () => frames);
    },
  },
  {
    name: 'empty_frames_flood',
    counters: ['http2.inbound_empty_frames_flood'],
    run: async (c, until) => {
      c.send(headers(1, hpack(POST)));
      await flood(c, until, () => data(1, ''));
    },
  },
  {
    name: 'priority_flood',
    counters: ['http2.inbound_priority_frames_flood'],
    run: (c, until) => flood(c, until, (i) => priority(1 + 2 * (i % 1000), 0)),
  },
  {
    name: 'hpack_bomb',
    counters: ['http2.header_overflow', 'http2.rx_messaging_error', 'http.bench.downstream_cx_protocol_error'],
    run: async (c, until) => {
      // The entry goes into the dynamic table once; each later block references it 100 times.
      c.send(
        headers(1, Buffer.concat([hpack(GET('/')), hpackIndexed('x-bomb', 'a'.repeat(4000))]), { endStream: true }),
      );
      const refs = Buffer.alloc(100, 0xbe);
      await flood(c, until, (i) => headers(3 + 2 * i, Buffer.concat([hpack(GET('/')), refs]), { endStream: true }));
    },
  },
  {
    name: 'zero_window_stall',
    counters: ['http.bench.downstream_rq_idle_timeout', 'cluster.up.upstream_flow_control_paused_reading_total'],
    settings: [[Setting.INITIAL_WINDOW_SIZE, 0]],
    run: async (c, until) => {
      // STALL_STREAMS streams at a time that ask for a large response and never open a window
      // for it; each batch is reset by stream_idle_timeout, then the next opens.
      let id = 1;
      while (!c.closed && Date.now() < until) {
        const last = id + 2 * (STALL_STREAMS - 1);
        for (; id <= last; id += 2) c.send(headers(id, hpack(GET('/big')), { endStream: true }));
        await Promise.race([c.rstCode(last), new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())))]);
      }
    },
  },
];

function treeRssMb(pid: number): number {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pids[i]) pids.push(Number(e));
      } catch {
        // Gone while we looked.
      }
    }
  }
  let kb = 0;
  for (const p of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // Gone.
    }
  }
  return Math.round((kb / 1024) * 10) / 10;
}

function statsOf(adminPort: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${adminPort}/stats?format=json`, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const out = new Map<string, number>();
          const parsed = JSON.parse(body) as { stats: Array<{ name?: string; value?: number }> };
          for (const s of parsed.stats)
            if (s.name !== undefined && typeof s.value === 'number') out.set(s.name, s.value);
          resolve(out);
        });
      })
      .on('error', reject);
  });
}

/** The proxy's memory by kind, in MB. */
interface MemoryMb {
  rss: number;
  anonymous: number;
  file: number;
  v8Heap: number;
  external: number;
  nativeOther: number;
}

const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** Resident and anonymous bytes of one process, from smaps_rollup (zeros once it is gone). */
function smapsOf(pid: number): { rss: number; anonymous: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: kb('Rss') * 1024, anonymous: kb('Anonymous') * 1024 };
  } catch {
    return { rss: 0, anonymous: 0 };
  }
}

/** V8's heap (all spaces, code included) and external/ArrayBuffer bytes, from the admin's /memory. */
function heapOf(adminPort: number): Promise<{ heapTotal: number; external: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${adminPort}/memory`, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          // envoy.admin.v3.Memory: allocated = heapUsed + external, pageheap_free = heapTotal - heapUsed.
          const m = JSON.parse(body) as { allocated: string; heap_size: string; pageheap_free: string };
          const heapUsed = Number(m.heap_size) - Number(m.pageheap_free);
          resolve({ heapTotal: Number(m.heap_size), external: Number(m.allocated) - heapUsed });
        });
      })
      .on('error', reject);
  });
}

async function memoryOf(pid: number, adminPort: number): Promise<MemoryMb> {
  const heap = await heapOf(adminPort);
  const { rss, anonymous } = smapsOf(pid);
  return {
    rss: mb(rss),
    anonymous: mb(anonymous),
    file: mb(rss - anonymous),
    v8Heap: mb(heap.heapTotal),
    external: mb(heap.external),
    nativeOther: mb(anonymous - heap.heapTotal - heap.external),
  };
}

function minus(a: MemoryMb, b: MemoryMb): MemoryMb {
  const out = { ...a };
  for (const k of Object.keys(out) as Array<keyof MemoryMb>) out[k] = Math.round((a[k] - b[k]) * 10) / 10;
  return out;
}

/** `connections` clients running `attack` until `until`, reconnecting when cut off; returns how many connected. */
async function drive(attack: Attack, port: number, connections: number, until: number): Promise<number> {
  let opened = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        opened++;
        let c: RawH2;
        try {
          c = await RawH2.connect(port, { settings: attack.settings ?? [] });
        } catch {
          continue;
        }
        await attack.run(c, until);
        c.destroy();
      }
    }),
  );
  return opened;
}

async function main(): Promise<void> {
  // The upstream answers / with 3 bytes and /big with an endless-enough body for the stall.
  const big = http.createServer((req, res) => {
    if (req.url !== '/big') return void res.end('ok\n');
    const block = Buffer.alloc(64 * 1024, 97);
    let left = 256;
    const pump = (): void => {
      while (left-- > 0) if (!res.write(block)) return void res.once('drain', pump);
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
  const upstreamPort = (big.address() as { port: number }).port;
  const control = attacks.find((a) => a.name === 'control_ordinary_requests')!;
  const results: Array<Record<string, unknown>> = [];
  try {
    const only = process.env.ATTACK_ONLY;
    for (const attack of attacks.filter((a) => only === undefined || only.split(',').includes(a.name))) {
      // A fresh proxy per attack, so no row pays for another's growth or is spared its own.
      const port = await freePort();
      const adminPort = await freePort();
      const boot = {
        ...proxyBootstrap(port, upstreamPort, {
          codec_type: 'HTTP2',
          stream_idle_timeout: '1s',
          // Envoy's recommended edge value; its default is unbounded.
          http2_protocol_options: { max_concurrent_streams: 100 },
        }),
        admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
      };
      const proxy = await startMeshscope('meshscope-c1', boot, port, ['--concurrency', '1']);
      try {
        // The listener answers before the admin does; wait for the admin too.
        for (let i = 0; ; i++) {
          try {
            await statsOf(adminPort);
            break;
          } catch (err) {
            if (i >= 100) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        const rssCold = treeRssMb(proxy.pid);
        const memoryCold = await memoryOf(proxy.pid, adminPort);
        if (WARM_SECONDS > 0) await drive(control, port, CONNECTIONS, Date.now() + WARM_SECONDS * 1000);
        await new Promise((r) => setTimeout(r, 500));
        const before = await statsOf(adminPort);
        const rssBefore = treeRssMb(proxy.pid);
        const memoryBefore = await memoryOf(proxy.pid, adminPort);
        let rssMax = rssBefore;
        const timeline: number[] = [];
        const kinds: MemoryMb[] = [];
        let samples = 0;
        const sampler = setInterval(() => {
          const rss = treeRssMb(proxy.pid);
          rssMax = Math.max(rssMax, rss);
          if (++samples % 10 !== 0) return;
          timeline.push(rss);
          memoryOf(proxy.pid, adminPort).then(
            (m) => kinds.push(minus(m, memoryBefore)),
            () => {},
          );
        }, 100);
        const connections = await drive(attack, port, attack.connections ?? CONNECTIONS, Date.now() + SECONDS * 1000);
        clearInterval(sampler);
        process.stderr.write(`${attack.name}: ${connections} connections\n`);
        const after = await statsOf(adminPort);
        const memoryAtEnd = await memoryOf(proxy.pid, adminPort);
        const counters = Object.fromEntries(
          attack.counters.map((n) => [n, (after.get(n) ?? 0) - (before.get(n) ?? 0)]),
        );
        const growth = Math.round((rssMax - rssBefore) * 10) / 10;
        const growthFromCold = Math.round((rssMax - rssCold) * 10) / 10;
        const countersMoved = Object.values(counters).some((v) => v > 0);
        results.push({
          attack: attack.name,
          seconds: SECONDS,
          warmSeconds: WARM_SECONDS,
          connections,
          rssColdMb: rssCold,
          rssBeforeMb: rssBefore,
          rssMaxMb: rssMax,
          rssGrowthMb: growth,
          rssGrowthFromColdMb: growthFromCold,
          rssEverySecondMb: timeline,
          memoryColdMb: memoryCold,
          memoryBeforeMb: memoryBefore,
          memoryAtEndMb: memoryAtEnd,
          growthByKindMb: minus(memoryAtEnd, memoryBefore),
          growthByKindEverySecondMb: kinds,
          counters,
          withinGoal: growth <= GOAL_MB && countersMoved,
          withinGoalFromCold: growthFromCold <= GOAL_MB && countersMoved,
        });
      } finally {
        await proxy.stop();
      }
    }
  } finally {
    await stopAll();
    big.closeAllConnections();
    await new Promise<void>((r) => big.close(() => r()));
  }
  console.log(
    JSON.stringify(
      {
        bench: 'http2-attacks',
        goalRssGrowthMb: GOAL_MB,
        // Judged from the warmed baseline; rssGrowthFromColdMb includes a fresh process's warm-up.
        baseline:
          WARM_SECONDS > 0 ? `fresh proxy warmed by ${WARM_SECONDS} s of ordinary h2 requests` : 'fresh proxy, cold',
        results,
      },
      null,
      2,
    ),
  );
}

await main();
