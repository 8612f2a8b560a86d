// `npm run bench:filter-chain`: what one more HTTP filter costs a request in the connection
// manager (issue 21): keep-alive requests through the HCM on a stream that discards writes, with
// the terminal filter alone, then no-op filters (decoder and encoder, a fresh object per stream
// or one instance shared by every stream: the filter manager's dispatch alone), a no-op filter
// with a log handler, then istio.stats (an outbound and an inbound sidecar's) before it.
// Requests run in batches of BENCH_BATCH (50, about what completes in one turn under wrk -c50)
// with a turn's end between them, so the deferred work of each batch (socket writes, filter log
// handlers) runs and is counted. CPU ns per request (process.cpuUsage) and GC pause ns per
// request (perf_hooks 'gc' entries, wall time), the medians of BENCH_ROUNDS (7) rounds of
// BENCH_ITERATIONS (100,000) requests per chain, chains interleaved; BENCH_ONLY=<regexp> keeps
// the first row and the rows it matches.
// Figures (load average 12-13 on 2 vCPUs, two runs, ns added over the terminal filter alone at
// ~2,400 ns): +1 no-op filter 101-114; +4 no-op filters 429-434; +4 shared no-op filters 144-165
// (the dispatch: ~40 ns per filter for decodeHeaders, encodeHeaders, encodeData, onDestroy and the
// log check; the rest, ~70 ns per filter, is this no-op's per-stream objects); +1 no-op filter
// with a log handler 211-326 (the stream's telemetry then deferred to the turn's end);
// istio.stats 321-390 outbound, 236-359 inbound. The telemetry sidecar's request-thread parts
// (spans and access-log records into in-memory batches): +tracing 1,260, +access log 801,
// +istio.stats 374, all three 2,217 (second run 1,192, 768, 281, all 2,008): no more than their sum in the request thread's JS, so the
// superadditivity bench:proxy-cpu shows (issue 21) lies outside it (threads, kernel, caches).
import { RouteTable } from '../proxy/core/router/route-table.js';
import { HttpConnectionManager } from '../proxy/core/http/conn-manager.js';
import { HcmStats } from '../proxy/core/http/hcm-stats.js';
import { FilterHeadersStatus, FilterDataStatus, type StreamFilterFactory } from '../proxy/core/http/filter.js';
import { RawBufferSocket } from '../proxy/core/network/raw-buffer-socket.js';
import { createStatsStore } from '../proxy/stats/index.js';
import { registries, type HttpFilterContext } from '../proxy/core/extension-points.js';
import '../proxy/telemetry/istio/filter.js';
import { answer, benchHcmSettings as settings, benchTracer, DiscardStream } from './lib/hcm-stub-stream.js';
import { ProtoWriter } from '../proxy/telemetry/proto-writer.js';
import { buildFormatter } from '../proxy/extensions/access_loggers/format-builder.js';
import type { AccessLogger } from '../proxy/core/extension-points.js';
import { median } from './lib/median.js';
import { PerformanceObserver } from 'node:perf_hooks';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const BATCH = Number(process.env.BENCH_BATCH ?? 50);

const head = Buffer.from(
  'GET /api/v1/items/42?expand=true HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n' +
    'Accept: */*\r\nX-Request-Id: 2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e\r\n\r\n',
);
const table = new RouteTable(
  { virtual_hosts: [{ name: 'shop', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'x' } }] }] },
  { stripAnyHostPort: false, stripMatchingPort: null },
);
/** A filter that does nothing, both ways: what the filter manager costs per filter. */
const noop: StreamFilterFactory = () => {
  const f = {
    decodeHeaders: () => FilterHeadersStatus.Continue,
    decodeData: () => FilterDataStatus.Continue,
    encodeHeaders: () => FilterHeadersStatus.Continue,
    encodeData: () => FilterDataStatus.Continue,
    onDestroy() {},
  };
  return { decoder: f, encoder: f };
};
/** The same no-op filter shared by every stream: the filter manager's dispatch alone, no per-stream object. */
const sharedNoopFilter = noop(null as never);
const sharedNoop: StreamFilterFactory = () => sharedNoopFilter;
/** A no-op filter with a log handler that does nothing: what a filter's log handler costs to run. */
const noopLog: StreamFilterFactory = () => {
  const f = noop(null as never);
  return { decoder: f.decoder, encoder: f.encoder, log() {} };
};
function istio(direction: 'INBOUND' | 'OUTBOUND'): StreamFilterFactory {
  const context = {
    node: { id: 'sidecar~10.0.0.7~shop-1.default~default.svc.cluster.local', cluster: 'shop', metadata: {} },
    stats: createStatsStore(),
    trafficDirection: direction,
  } as unknown as HttpFilterContext;
  return registries.httpFilters.lookup('istio.stats', undefined)!.create({}, context);
}

// The telemetry sidecar's other parts, their request-thread side: spans and access-log records
// go into batch buffers rewound as a pipeline's are after a post (the export and printing
// threads' work is not here).
const { tracer, spanBatch } = benchTracer();
const logBatch = new ProtoWriter(1024 * 1024);
const logFormat = buildFormatter(undefined);
const accessLogger: AccessLogger = {
  log(info) {
    if (logBatch.pos > 512 * 1024) logBatch.pos = 0;
    logBatch.ensure(5);
    logBatch.varint(1);
    logFormat.recordInto(info, logBatch);
  },
};

interface Telemetry {
  tracer?: boolean;
  accessLog?: boolean;
}
const chains: Array<[string, StreamFilterFactory[], Telemetry?]> = [
  ['terminal filter alone', [answer]],
  ['+1 no-op filter', [noop, answer]],
  ['+4 no-op filters', [noop, noop, noop, noop, answer]],
  ['+4 no-op filters, one instance shared by every stream', [sharedNoop, sharedNoop, sharedNoop, sharedNoop, answer]],
  ['+1 no-op filter with a log handler', [noopLog, answer]],
  ['+istio.stats (outbound, source reporter)', [istio('OUTBOUND'), answer]],
  ['+istio.stats (inbound, destination reporter)', [istio('INBOUND'), answer]],
  ['+tracing (100% sampled)', [answer], { tracer: true }],
  ['+access log (default format)', [answer], { accessLog: true }],
  ['+tracing +access log', [answer], { tracer: true, accessLog: true }],
  ['+tracing +access log +istio.stats inbound', [istio('INBOUND'), answer], { tracer: true, accessLog: true }],
];

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const ONLY = process.env.BENCH_ONLY;
const rigs = chains
  .filter(([name], i) => i === 0 || ONLY === undefined || new RegExp(ONLY).test(name))
  .map(([name, factories, t]) => {
    const hcm = new HttpConnectionManager(
      settings,
      new HcmStats(createStatsStore(), 'x'),
      table,
      factories,
      t?.accessLog === true ? [accessLogger] : [],
      t?.tracer === true ? tracer : null,
    );
    const downstream = new DiscardStream();
    hcm.onNewConnection(new RawBufferSocket(downstream.asSocket()), {
      name: 'bench',
      port: 10000,
      direction: 'INBOUND',
    });
    return { name, downstream, cpuNs: [] as number[], gcNs: [] as number[] };
  });

async function run(d: DiscardStream, n: number, gcNs: number[]): Promise<number> {
  await turn();
  const gc0 = gcMs;
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i += BATCH) {
    for (let j = 0; j < BATCH; j++) d.emit('data', head);
    await turn();
  }
  const used = process.cpuUsage(cpu);
  await turn(); // the observer's entries arrive a turn later
  gcNs.push(((gcMs - gc0) * 1e6) / n);
  return ((used.user + used.system) * 1000) / n;
}

for (const r of rigs) await run(r.downstream, 20_000, []);
for (let round = 0; round < ROUNDS; round++)
  for (const r of rigs) r.cpuNs.push(await run(r.downstream, ITERATIONS, r.gcNs));
const base = median(rigs[0]!.cpuNs);
const results = rigs.map((r) => {
  if (r.downstream.bytesWritten === 0) throw new Error(`${r.name}: the connection manager wrote nothing`);
  const m = median(r.cpuNs);
  return {
    name: r.name,
    cpuNsPerRequest: Math.round(m),
    addedNs: Math.round(m - base),
    gcNsPerRequest: Math.round(median(r.gcNs)),
  };
});
if (spanBatch.pos === 0 || logBatch.pos === 0) throw new Error('no span or access-log record was written');
process.stdout.write(
  `${JSON.stringify({ benchmark: 'filter-chain', iterations: ITERATIONS, rounds: ROUNDS, results }, null, 2)}\n`,
);
