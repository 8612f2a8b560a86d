// `npm run bench:proxy-request-path`: the request thread's user-space cost of one proxied HTTP/1.1
// request, without the kernel: each build's own code from dist/ (Worker, HCM, router, HTTP/1
// pool and codecs, shared-buffer reads, DeferredWriter and its handle writes), in one process,
// on connections whose native TCP handles are stand-ins. A downstream read is delivered as libuv
// delivers it (bytes in the handle's user buffer, the size in streamBaseState, handle.onread);
// a write the proxy makes to an upstream handle is answered with an nginx-like response on that
// handle's next read, and a response written downstream brings that connection's next request:
// a closed loop of BENCH_CONNECTIONS (50) connections, as wrk -c50 drives the real one, one turn
// of the event loop per exchange step. Builds alternate in bursts of BENCH_REQUESTS (30,000)
// requests for BENCH_ROUNDS (15) rounds; CPU (user + system of the process) per request, and the
// median of each round's ratio to the first build. On a host whose load swings by the second the
// kernel's part of a real run (bench:proxy-cpu) hides changes of a few percent in user space;
// here both builds pay the same for whatever runs beside them, in alternating bursts.
// Builds: this checkout ("this"), BENCH_BASELINE ("baseline"), and BENCH_BUILDS=name=dir,…
// (another copy of the baseline gives the noise floor). Node's stream_wrap binding is used as
// shared/stream-wrap.ts uses it; a stand-in handle's latin1 write copies the string's bytes out
// as the native one does, so a build that writes a concatenated string pays its flattening.
// BENCH_ALLOC=1 adds each build's bytes allocated per request and its 25 largest allocation
// sites (V8's sampling heap profiler over one more burst, after the CPU rounds).
import { EventEmitter } from 'node:events';
import { Session } from 'node:inspector/promises';
import { readFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './lib/median.js';
import { proxyBootstrap } from './lib/peers.js';

const require = createRequire(import.meta.url);
const net = require('node:net') as { connect: (options: ConnectOptions) => unknown };
const { streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = (
  process as unknown as {
    binding(name: 'stream_wrap'): {
      streamBaseState: Int32Array;
      kReadBytesOrError: number;
      kLastWriteWasAsync: number;
    };
  }
).binding('stream_wrap');

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

/** wrk's request, and nginx's `return 200 "ok\n"` answer (bench:proxy's upstream). */
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:18180\r\n\r\n');
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 17:00:00 GMT\r\nContent-Type: text/plain\r\n' +
    'Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n',
);

interface ConnectOptions {
  onread?: { buffer: Buffer };
}

/** Where the stand-in handles' writes put the bytes the kernel would take. */
const written = Buffer.allocUnsafeSlow(65536);

/** The stand-in native handle: its constructor's name is what tcpHandleOf checks. */
class TCP {
  readonly #socket: StandInSocket;
  buffer: Buffer | null = null;
  onread: (arrayBuffer: unknown) => unknown = () => undefined;

  constructor(socket: StandInSocket) {
    this.#socket = socket;
  }

  useUserBuffer(buffer: Buffer): void {
    this.buffer = buffer;
  }

  writeLatin1String(_req: unknown, data: string): number {
    // The native write copies the string's bytes out (flattening a concatenated one), as here.
    written.write(data, 0, 'latin1');
    streamBaseState[kLastWriteWasAsync] = 0;
    this.#socket.onWrite();
    return 0;
  }

  writeBuffer(_req: unknown, _data: Uint8Array): number {
    streamBaseState[kLastWriteWasAsync] = 0;
    this.#socket.onWrite();
    return 0;
  }
}

/** A connected socket as the proxy's codecs and writers use it, around a stand-in handle. */
class StandInSocket extends EventEmitter {
  readonly _handle: TCP;
  readonly onWrite: () => void;
  readonly remoteAddress = '10.0.0.7';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 10000;
  readonly connecting = false;
  readonly destroyed = false;
  readonly writableEnded = false;
  readonly writableNeedDrain = false;
  readonly writableLength = 0;
  readonly writableCorked = 0;
  readonly timeout = undefined;

  constructor(onWrite: () => void, options?: ConnectOptions) {
    super();
    this._handle = new TCP(this);
    if (options?.onread !== undefined) this._handle.useUserBuffer(options.onread.buffer);
    this.onWrite = onWrite;
  }

  write(): boolean {
    this.onWrite();
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}
  setTimeout(): void {}

  /** One read of `bytes`, handed to the handle as libuv hands it. */
  deliver(bytes: Buffer): void {
    const handle = this._handle;
    bytes.copy(handle.buffer!, 0);
    streamBaseState[kReadBytesOrError] = bytes.length;
    handle.onread(undefined);
  }
}

/** Connections whose write this step produced: upstreams to answer, downstreams to ask again. */
let answerUpstream: StandInSocket[] = [];
let askDownstream: StandInSocket[] = [];
let responses = 0;

// Every build's upstream connections are stand-ins: raw_buffer imports connect from node:net.
net.connect = (options: ConnectOptions): unknown => {
  const socket: StandInSocket = new StandInSocket(() => answerUpstream.push(socket), options);
  setImmediate(() => socket.emit('connect'));
  return socket;
};
syncBuiltinESMExports();

// AUTO's preface detection reads the first bytes through `data`; what follows is the same.
const bootstrap = proxyBootstrap(0, 9, { codec_type: 'HTTP1' });

interface Build {
  name: string;
  downstreams: StandInSocket[];
}

type Module = Record<string, unknown>;

/** One build's worker with the bench's listener, and its downstream connections. */
async function load(name: string, root: string): Promise<Build> {
  const dist = (path: string): Promise<Module> => import(pathToFileURL(join(root, 'dist', path)).href);
  const { validateBootstrap } = (await dist('proxy/config/load.js')) as {
    validateBootstrap(raw: unknown): { static_resources: { clusters: unknown[]; listeners: unknown[] } };
  };
  const { loadExtensionsFor } = (await dist('proxy/extensions/catalog.js')) as {
    loadExtensionsFor(config: unknown): Promise<void>;
  };
  const { Worker } = (await dist('proxy/core/worker.js')) as {
    Worker: new (options: unknown) => WorkerShape;
  };
  const { RuntimeReplica } = (await dist('proxy/runtime/index.js')) as { RuntimeReplica: new () => unknown };
  const { RawBufferSocket } = (await dist('proxy/core/network/raw-buffer-socket.js')) as {
    RawBufferSocket: new (socket: Socket) => unknown;
  };
  await loadExtensionsFor(bootstrap);
  const config = validateBootstrap(structuredClone(bootstrap));
  const node = { id: '', cluster: '', locality: { region: '', zone: '', subZone: '' }, metadata: {} };
  const worker = new Worker({ node, shutdownTimeoutMs: 0, runtime: new RuntimeReplica() });
  worker.clusterManager.addOrUpdateCluster(config.static_resources.clusters[0]);
  await worker.clusterManager.whenInitialized(5000);
  const listener = await worker.addOrUpdateListener(config.static_resources.listeners[0]);
  const hcm = listener.filterChains[0]!.terminal;
  const downstreams: StandInSocket[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket: StandInSocket = new StandInSocket(() => {
      askDownstream.push(socket);
      responses++;
    });
    hcm.onNewConnection(new RawBufferSocket(socket as unknown as Socket), {
      name: 'bench',
      port: 10000,
      direction: 'INBOUND',
    });
    downstreams.push(socket);
  }
  // The real listener is bound (port 0) but never connected to; it must not keep the process up.
  return { name, downstreams };
}

interface WorkerShape {
  clusterManager: { addOrUpdateCluster(config: unknown): void; whenInitialized(ms: number): Promise<void> };
  addOrUpdateListener(config: unknown): Promise<{
    filterChains: Array<{ terminal: { onNewConnection(transport: unknown, listener: unknown): unknown } }>;
  }>;
}

/** At least `n` requests through `build`: every connection asks, each response asks again. */
function run(build: Build, n: number): Promise<number> {
  return new Promise((done) => {
    answerUpstream = [];
    askDownstream = [];
    responses = 0;
    for (const s of build.downstreams) s.deliver(REQUEST);
    const step = (): void => {
      const upstreams = answerUpstream;
      answerUpstream = [];
      for (const s of upstreams) s.deliver(RESPONSE);
      const downstreams = askDownstream;
      askDownstream = [];
      if (responses >= n) {
        // The requests still out are answered, so every connection ends the burst idle.
        if (upstreams.length === 0) setImmediate(() => done(responses));
        else setImmediate(step);
        return;
      }
      for (const s of downstreams) s.deliver(REQUEST);
      setImmediate(step);
    };
    setImmediate(step);
  });
}

async function main(): Promise<void> {
  const specs: Array<[string, string]> = [['this', process.cwd()]];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline !== undefined && baseline !== '') specs.push(['baseline', resolve(baseline)]);
  for (const spec of (process.env.BENCH_BUILDS ?? '').split(',').filter((s) => s !== '')) {
    const eq = spec.indexOf('=');
    specs.push([spec.slice(0, eq), resolve(spec.slice(eq + 1))]);
  }
  const builds: Build[] = [];
  for (const [name, root] of specs) builds.push(await load(name, root));
  for (const b of builds) await run(b, 2 * REQUESTS);
  const perRound: Array<Map<string, number>> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results = new Map<string, number>();
    // Alternate the order, so neither build always follows the other's garbage.
    for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = process.cpuUsage();
      const requests = await run(b, REQUESTS);
      const used = process.cpuUsage(before);
      results.set(b.name, ((used.user + used.system) * 1000) / requests);
    }
    perRound.push(results);
  }
  // BENCH_ALLOC=1: bytes allocated per request by each build (V8's sampling heap profiler over
  // one burst, every sample kept whether or not a scavenge collected it), and its largest sites.
  const allocation = new Map<string, { bytesPerRequest: number; top: string[] }>();
  if (process.env.BENCH_ALLOC === '1') {
    const session = new Session();
    session.connect();
    for (const b of builds) {
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 64,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      const requests = await run(b, REQUESTS);
      const { profile } = await session.post('HeapProfiler.stopSampling');
      const sites = new Map<string, number>();
      let total = 0;
      const stack = [profile.head];
      while (stack.length > 0) {
        const node = stack.pop()!;
        total += node.selfSize;
        if (node.selfSize > 0) {
          const f = node.callFrame;
          const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
          sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
        }
        stack.push(...node.children);
      }
      const top = [...sites]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 25)
        .map(([k, v]) => `${Math.round(v / requests)} B ${k}`);
      allocation.set(b.name, { bytesPerRequest: Math.round(total / requests), top });
    }
    session.disconnect();
  }
  const first = builds[0]!.name;
  const rows = builds.map(({ name }) => ({
    name,
    cpuNsPerRequest: Math.round(median(perRound.map((r) => r.get(name)!))),
    minCpuNsPerRequest: Math.round(Math.min(...perRound.map((r) => r.get(name)!))),
    cpuRatioToThis: Math.round(median(perRound.map((r) => r.get(name)! / r.get(first)!)) * 1000) / 1000,
    ...allocation.get(name),
  }));
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    JSON.stringify(
      {
        benchmark: 'proxy-request-path',
        connections: CONNECTIONS,
        requestsPerRound: REQUESTS,
        rounds: ROUNDS,
        loadAverage,
        rows,
      },
      null,
      2,
    ),
  );
  process.exit(0);
}

await main();
