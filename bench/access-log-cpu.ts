// What printing an access-log line costs the access-log thread, in-process, this build against
// another (BENCH_BASELINE, a checkout with dist/ built), rounds interleaved: a batch of records
// as the request thread writes them (recordInto, one per stream, start times a few per
// millisecond as at a few thousand requests a second) is printed line by line into one reused
// buffer with formatRecordInto, as log-printer.ts prints into a sink's buffer. Two formats:
// Envoy's default text format (what the mesh's sidecars and bench:proxy-cpu log) and the mesh's
// JSON format (Istio's JSON access-log keys). On 2 vCPUs at saturation this thread competes with
// the request thread for a core, so its CPU per line counts against telemetry's on/off ratio.
// Prints ns and bytes allocated (V8's sampling heap profiler, collected objects included) per
// line, and what recording the same streams costs the request thread (recordInto, as
// ThreadedAccessLogger.log writes a record into its batch: recordCpuNsPerLine).
// Run: `npm run bench:access-log-cpu` (builds, bundles this file and runs it).
// Knobs: BENCH_BASELINE, BENCH_ROUNDS (7), BENCH_ITERATIONS (200,000 lines per round and format).
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bytesAllocatedPerOp, cpuNsPerOp, loadBuilds, medianRatio } from './lib/in-process.js';
import { median } from './lib/median.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200_000);
/** Records per batch (the export pipeline hands the thread batches of about this many). */
const BATCH = 512;
/** Lines printed under the heap profiler (98 batches). */
const HEAP_LINES = 50_176;

/** Istio's JSON access-log format (meshConfig accessLogEncoding: JSON), the operators this proxy has. */
const MESH_JSON_FORMAT = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  route_name: '%ROUTE_NAME%',
};

interface WriterLike {
  buf: Buffer;
  pos: number;
}
interface FormatterLike {
  recordInto(info: unknown, w: WriterLike): void;
  formatRecordInto(r: unknown, out: WriterLike): void;
}
interface Build {
  /** The batch's records, for `format`. */
  records(format: 'text' | 'json'): Uint8Array;
  /** The batch's finished streams, which the request thread records. */
  infos: unknown[];
  formatter(format: 'text' | 'json'): FormatterLike;
  reader(records: Uint8Array): unknown;
  out: WriterLike;
}

async function load(root: string): Promise<Build> {
  const at = (p: string) => pathToFileURL(resolve(root, 'dist', p)).href;
  const { StreamInfo } = await import(at('proxy/core/stream-info.js'));
  const { HeaderMap } = await import(at('proxy/core/http/headers.js'));
  const { ProtoWriter } = await import(at('proxy/telemetry/proto-writer.js'));
  const { RecordReader } = await import(at('proxy/telemetry/stream-record.js'));
  const sf = await import(at('proxy/telemetry/substitution-format.js'));
  const formatters: Record<'text' | 'json', FormatterLike> = {
    text: new sf.TextFormatter(sf.DEFAULT_ACCESS_LOG_FORMAT),
    json: new sf.CompiledJson(MESH_JSON_FORMAT),
  };
  const base = Date.UTC(2026, 11, 7, 10, 0, 59, 900);
  const infos: unknown[] = [];
  const records = (format: 'text' | 'json'): Uint8Array => {
    const w = new ProtoWriter(1 << 16);
    infos.length = 0;
    for (let i = 0; i < BATCH; i++) {
      const info = new StreamInfo('inbound_0.0.0.0_9080', '10.0.0.9', 40000 + i, '10.0.0.1', 9080);
      // Four streams a millisecond, the batch crossing a second.
      Object.defineProperty(info, 'startTime', { value: base + (i >> 2) });
      const h = new HeaderMap();
      h.add(':method', 'GET');
      h.add(':path', `/items/${i}`);
      h.add(':authority', 'reviews:9080');
      h.add(':scheme', 'http');
      h.add('user-agent', 'curl/8.5.0');
      h.add('x-forwarded-proto', 'http');
      h.add('x-request-id', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
      info.requestHeaders = h;
      const rh = new HeaderMap();
      rh.add(':status', '200');
      rh.add('x-envoy-upstream-service-time', '3');
      info.responseHeaders = rh;
      info.protocol = 'HTTP/1.1';
      info.hasHttpProtocol = true;
      info.responseCode = 200;
      info.responseCodeDetails = 'via_upstream';
      info.bytesSent = 1234;
      info.durationMs = 3.4;
      info.upstreamHost = '127.0.0.1:9080';
      info.upstreamCluster = 'inbound|9080||';
      info.routeName = 'default';
      formatters[format].recordInto(info, w);
      infos.push(info);
    }
    return w.buf.subarray(0, w.pos);
  };
  const batches = { text: records('text'), json: records('json') };
  return {
    records: (format) => batches[format],
    infos,
    formatter: (format) => formatters[format],
    reader: (r) => new RecordReader(r),
    out: new ProtoWriter(1 << 20),
  };
}

function print(b: Build, format: 'text' | 'json', lines: number): number {
  const f = b.formatter(format);
  const records = b.records(format);
  let bytes = 0;
  for (let done = 0; done < lines; done += BATCH) {
    const r = b.reader(records);
    b.out.pos = 0;
    for (let i = 0; i < BATCH; i++) f.formatRecordInto(r, b.out);
    bytes = b.out.pos;
  }
  return bytes;
}

/** The request thread's part: the batch's streams recorded, as ThreadedAccessLogger.log does. */
function record(b: Build, format: 'text' | 'json', lines: number): void {
  const f = b.formatter(format);
  for (let done = 0; done < lines; done += BATCH) {
    b.out.pos = 0;
    for (let i = 0; i < BATCH; i++) f.recordInto(b.infos[i], b.out);
  }
}

const builds = await loadBuilds(load);

const FORMATS = ['text', 'json'] as const;
// Both builds print the same bytes (the point of the change is its cost, not its output).
const lines = builds.map(({ build }) =>
  FORMATS.map((f) => {
    print(build, f, BATCH);
    return build.out.buf.toString('utf8', 0, build.out.pos);
  }),
);
const identical = lines.every((l) => l[0] === lines[0]![0] && l[1] === lines[0]![1]);
for (const { build } of builds)
  for (const f of FORMATS) {
    print(build, f, 50_000);
    record(build, f, 50_000);
  }
const perRound = new Map<string, number[]>();
const recordPerRound = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++)
  for (const f of FORMATS)
    for (const { name, build } of builds) {
      const key = `${name}/${f}`;
      if (!perRound.has(key)) perRound.set(key, []);
      if (!recordPerRound.has(key)) recordPerRound.set(key, []);
      perRound.get(key)!.push(cpuNsPerOp(ITERATIONS, () => print(build, f, ITERATIONS)));
      recordPerRound.get(key)!.push(cpuNsPerOp(ITERATIONS, () => record(build, f, ITERATIONS)));
    }
const session = new Session();
session.connect();
const rows = [];
for (const { name, build } of builds)
  for (const f of FORMATS) {
    const ns = perRound.get(`${name}/${f}`)!;
    rows.push({
      name,
      format: f,
      cpuNsPerLine: Math.round(median(ns)),
      recordCpuNsPerLine: Math.round(median(recordPerRound.get(`${name}/${f}`)!)),
      bytesAllocatedPerLine: Math.round(
        await bytesAllocatedPerOp(session, HEAP_LINES, () => print(build, f, HEAP_LINES)),
      ),
      lineBytes: Math.round(lines[0]![FORMATS.indexOf(f)]!.length / BATCH),
      rounds: ns.map(Math.round),
    });
  }
session.disconnect();
const ratios: Record<string, number> = {};
if (builds.length === 2)
  for (const f of FORMATS) {
    ratios[`${f}CpuThisOverBaseline`] = medianRatio(perRound.get(`this/${f}`)!, perRound.get(`baseline/${f}`)!);
    ratios[`${f}RecordCpuThisOverBaseline`] = medianRatio(
      recordPerRound.get(`this/${f}`)!,
      recordPerRound.get(`baseline/${f}`)!,
    );
  }
console.log(
  JSON.stringify(
    {
      benchmark: 'access-log-cpu',
      linesPerRound: ITERATIONS,
      rounds: ROUNDS,
      ...(builds.length === 2 ? { outputIdentical: identical } : {}),
      rows,
      ...ratios,
    },
    null,
    2,
  ),
);
