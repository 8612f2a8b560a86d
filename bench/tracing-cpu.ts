// What tracing costs the request thread per request, in-process, this build against another
// (BENCH_BASELINE, a checkout with dist/ built), rounds interleaved: an INBOUND sidecar's span
// started from a request without propagation headers, its context injected (W3C + B3 multi, the
// mesh's default), the request head serialized as the HTTP/1 client encoder joins it (its loop
// replicated here: the codec needs a socket), and the span finished into an export batch. The
// same request without tracing is measured beside it and subtracted. On a shared host the
// whole-proxy figures of bench:proxy-cpu move by several microseconds between runs; this moves
// by a few percent, so a change of a few hundred nanoseconds in tracing's own code shows here.
// Also prints bytes allocated per request (V8's sampling heap profiler, collected objects
// included), and spanCpuNsPerRequest: a span started and finished alone, over 64 streams made
// beforehand (no request built, no injection, no head), each build's rounds in alternating
// order: it moves by ~2% between rounds where the whole request's difference moves by ~10%, so
// a change of a few dozen nanoseconds in the span's own writing shows there. Run: `npm run bench:tracing-cpu` (builds, bundles this file and runs it).
// Knobs: BENCH_BASELINE, BENCH_ROUNDS (7), BENCH_ITERATIONS (200,000 per round).
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bytesAllocatedPerOp, cpuNsPerOp, loadBuilds, medianRatio } from './lib/in-process.js';
import { median } from './lib/median.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200_000);
/** Requests run under the heap profiler, traced and not. */
const HEAP_REQUESTS = 50_000;

/** The parts of a build the bench drives, loaded from its dist/. */
interface HeaderMapLike {
  readonly names: string[];
  readonly values: string[];
  add(name: string, value: string): void;
  trailingLinesFrom?(): number;
  readonly trailingLines?: string;
}
interface SpanLike {
  spawnChild(name: string, startTimeMs: number, force: boolean): SpanLike;
  injectContext(headers: HeaderMapLike): void;
  finishSpan(info: unknown, attempt: null): void;
}
interface BuildModules {
  newInfo(): Record<string, unknown>;
  /** Starts and finishes `n` spans over 64 streams made once. */
  spans(n: number): void;
  newHeaders(): HeaderMapLike;
  startSpan(info: unknown, headers: HeaderMapLike): SpanLike;
}

async function load(root: string): Promise<BuildModules> {
  const at = (p: string) => pathToFileURL(resolve(root, 'dist', p)).href;
  const { MeshTracer } = await import(at('proxy/tracing/tracer.js'));
  const { StreamInfo } = await import(at('proxy/core/stream-info.js'));
  const { HeaderMap } = await import(at('proxy/core/http/headers.js'));
  const { ProtoWriter } = await import(at('proxy/telemetry/proto-writer.js'));
  const { RuntimeSnapshot } = await import(at('proxy/runtime/snapshot.js'));
  // A proxy's tracers read sampling overrides from its runtime (empty here, as by default).
  const snapshot = new RuntimeSnapshot([]);
  // The export pipeline's writing half: spans go into one reused buffer.
  const batch = new ProtoWriter(1 << 20);
  const pipeline = {
    beginRecord: () => {
      if (batch.pos > 900_000) batch.pos = 0;
      return batch;
    },
    endRecord: () => {},
  };
  const tracer = new MeshTracer({
    nodeId: 'bench-1',
    direction: 'INBOUND',
    // W3C only: what the OpenTelemetry tracer injects (tracing/factory.ts).
    injectFormats: 1,
    sampling: {
      randomSamplingPercent: 100,
      clientSamplingPercent: 100,
      overallSamplingPercent: 100,
      runtime: { snapshot: () => snapshot },
    },
    spawnUpstreamSpan: false,
    maxPathTagLength: 256,
    customTags: [],
    pipeline,
  });
  const streams: Array<{ info: Record<string, unknown>; headers: HeaderMapLike }> = [];
  for (let i = 0; i < 64; i++) {
    const info = new StreamInfo('bench', '10.0.0.9', 40000, '10.0.0.1', 8080);
    const headers = requestHeaders(new HeaderMap());
    info.requestHeaders = headers;
    info.requestId = headers.values[6];
    finishedStream(info);
    streams.push({ info, headers });
  }
  return {
    newInfo: () => new StreamInfo('bench', '10.0.0.9', 40000, '10.0.0.1', 8080),
    spans: (n) => {
      for (let i = 0; i < n; i++) {
        const s = streams[i & 63]!;
        tracer.startSpan(s.info, s.headers, 'ingress').finishSpan(s.info, null);
      }
    },
    newHeaders: () => new HeaderMap(),
    startSpan: (info, headers) => tracer.startSpan(info, headers, 'ingress'),
  };
}

// Header values as the parser makes them: new strings per request, sliced from the read.
const READ = Buffer.from('GET/items/42reviews:9080curl/8.5.0f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
const HEAD = Buffer.allocUnsafe(64 * 1024);

function requestHeaders(h: HeaderMapLike): HeaderMapLike {
  h.add(':method', READ.toString('latin1', 0, 3));
  h.add(':path', READ.toString('latin1', 3, 12));
  h.add(':authority', READ.toString('latin1', 12, 24));
  h.add(':scheme', 'http');
  h.add('user-agent', READ.toString('latin1', 24, 34));
  h.add('x-forwarded-proto', 'http');
  h.add('x-request-id', READ.toString('latin1', 34, 70));
  return h;
}

/** What the stream's end leaves in StreamInfo for the span to read. */
function finishedStream(info: Record<string, unknown>): void {
  info.responseCode = 200;
  info.upstreamCluster = 'inbound|9080||';
  info.upstreamHost = '127.0.0.1:9080';
  info.durationMs = 0.4;
}

function request(m: BuildModules, traced: boolean): number {
  const info = m.newInfo();
  const h = requestHeaders(m.newHeaders());
  info.requestHeaders = h;
  info.requestId = h.values[6];
  let span: SpanLike | null = null;
  if (traced) {
    span = m.startSpan(info, h);
    span.spawnChild('router reviews egress', 0, false).injectContext(h);
  }
  // The head as Http1ClientConnection.encodeHeaders joins it, and its one latin1 write.
  let out = `GET ${h.values[1]} HTTP/1.1\r\nhost: ${h.values[2]}\r\n`;
  const linesFrom = h.trailingLinesFrom?.() ?? -1;
  const end = linesFrom === -1 ? h.names.length : linesFrom;
  for (let i = 0; i < end; i++) {
    const n = h.names[i]!;
    if (n.charCodeAt(0) === 58) continue;
    out += `${n}: ${h.values[i]}\r\n`;
  }
  if (linesFrom !== -1) out += h.trailingLines ?? '';
  const written = HEAD.write(`${out}\r\n`, 0, 'latin1');
  if (span !== null) {
    finishedStream(info);
    span.finishSpan(info, null);
  }
  return written;
}

function requests(m: BuildModules, traced: boolean, n: number): void {
  for (let i = 0; i < n; i++) request(m, traced);
}

const builds = await loadBuilds(load);

for (const b of builds) for (let i = 0; i < 50_000; i++) request(b.build, i % 2 === 0);
for (const b of builds) b.build.spans(100_000);
const perRound = new Map<string, number[]>(builds.map((b) => [b.name, []]));
const spanRounds = new Map<string, number[]>(builds.map((b) => [b.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const b of builds) {
    const off = cpuNsPerOp(ITERATIONS, () => requests(b.build, false, ITERATIONS));
    const on = cpuNsPerOp(ITERATIONS, () => requests(b.build, true, ITERATIONS));
    perRound.get(b.name)!.push(on - off);
  }
  for (const b of r % 2 === 0 ? builds : [...builds].reverse())
    spanRounds.get(b.name)!.push(cpuNsPerOp(ITERATIONS, () => b.build.spans(ITERATIONS)));
}
const session = new Session();
session.connect();
const rows = [];
for (const b of builds) {
  const ns = perRound.get(b.name)!;
  const on = await bytesAllocatedPerOp(session, HEAP_REQUESTS, () => requests(b.build, true, HEAP_REQUESTS));
  const off = await bytesAllocatedPerOp(session, HEAP_REQUESTS, () => requests(b.build, false, HEAP_REQUESTS));
  rows.push({
    name: b.name,
    tracingCpuNsPerRequest: Math.round(median(ns)),
    tracingBytesPerRequest: Math.round(on - off),
    rounds: ns.map(Math.round),
    spanCpuNsPerRequest: Math.round(median(spanRounds.get(b.name)!)),
    spanRounds: spanRounds.get(b.name)!.map(Math.round),
  });
}
session.disconnect();
const ratio =
  rows.length === 2
    ? {
        cpuThisOverBaseline: medianRatio(perRound.get('this')!, perRound.get('baseline')!),
        spanCpuThisOverBaseline: medianRatio(spanRounds.get('this')!, spanRounds.get('baseline')!),
      }
    : {};
console.log(
  JSON.stringify({ benchmark: 'tracing-cpu', iterationsPerRound: ITERATIONS, rounds: ROUNDS, rows, ...ratio }, null, 2),
);
