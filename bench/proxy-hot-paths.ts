// `npm run bench:proxy-hot-paths`: micro-benchmarks of the proxy's per-request functions,
// each run for a fixed number of iterations after a warm-up: the HTTP/1.1 request parser on a
// browser-like head, a 50-route table lookup, header map building, and one keep-alive request
// through the connection manager (server codec, header rules, filter manager, response
// framing) on a stream that discards writes; a route timeout armed and cancelled (the router's
// per-request timer) on the timer wheel and, for comparison, with setTimeout; and what telemetry
// costs the request thread per request (a sampled span started and finished into its export
// batch as OTLP, the default access-log format's record), each beside the StreamInfo they read,
// and the access-log thread's printing of that record.
// Prints JSON (ops/s).
import { Http1Parser, type MessageHead, type ParserHandler } from '../proxy/core/http/codec/http1/parser.js';
import { HeaderMap } from '../proxy/core/http/headers.js';
import { RouteTable } from '../proxy/core/router/route-table.js';
import { HttpConnectionManager } from '../proxy/core/http/conn-manager.js';
import { HcmStats } from '../proxy/core/http/hcm-stats.js';
import { RawBufferSocket } from '../proxy/core/network/raw-buffer-socket.js';
import { createStatsStore } from '../proxy/stats/index.js';
import { WheelTimer } from '../proxy/core/timer-wheel.js';
import { answer, benchHcmSettings, benchTracer, DiscardStream } from './lib/hcm-stub-stream.js';
import { ITERATIONS, measure } from './lib/micro.js';
import { StreamInfo } from '../proxy/core/stream-info.js';
import { ProtoWriter } from '../proxy/telemetry/proto-writer.js';
import { buildFormatter } from '../proxy/extensions/access_loggers/format-builder.js';
import { RecordReader } from '../proxy/telemetry/stream-record.js';

const head = Buffer.from(
  'GET /api/v1/items/42?expand=true HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n' +
    'Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n' +
    'Cookie: session=abc123; theme=dark\r\nX-Request-Id: 2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e\r\nConnection: keep-alive\r\n\r\n',
);
let lastHead: MessageHead | null = null;
const handler: ParserHandler = {
  onHead: (h) => void (lastHead = h),
  onBody: () => {},
  onMessageComplete: () => true,
  onError: (e) => {
    throw new Error(e.details);
  },
};
const parser = new Http1Parser(true, handler, { maxHeaderBytes: 60 * 1024, maxHeaders: 100 });

const routes = Array.from({ length: 49 }, (_, i) => ({ match: { prefix: `/svc${i}/` }, route: { cluster: `c${i}` } }));
routes.push({ match: { prefix: '/api/' }, route: { cluster: 'api' } });
const table = new RouteTable(
  {
    virtual_hosts: [
      { name: 'shop', domains: ['shop.example.com', '*.example.com'], routes },
      { name: 'default', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'x' } }] },
    ],
  },
  { stripAnyHostPort: false, stripMatchingPort: null },
);
const headers = new HeaderMap();
headers.add(':path', '/api/v1/items/42');

const hcm = new HttpConnectionManager(
  benchHcmSettings,
  new HcmStats(createStatsStore(), 'ingress_http'),
  table,
  [answer],
  [],
  null,
);
const downstream = new DiscardStream();
hcm.onNewConnection(new RawBufferSocket(downstream.asSocket()), { name: 'bench', port: 10000, direction: 'INBOUND' });

const timerOwner = { onWheelTimer: (): void => {} };

// Telemetry: records go into one batch buffer, rewound as a pipeline's is after a post.
const { tracer, pipeline: spanPipeline } = benchTracer();
// The request's header values as the HTTP/1.1 parser makes them: new slices of the head's text
// per request. A constant string would flatter any Map keyed by a value: V8 keeps a string's
// hash once computed, and a new slice is hashed afresh (under wrk a cache of encoded authority
// attributes cost more in hashing than it saved, which constant strings here had hidden).
const proxiedText =
  'GET/api/v1/items/42?expand=truehttpshop.example.comMozilla/5.0 (X11; Linux x86_64)' +
  '2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e';
const proxiedFields: ReadonlyArray<readonly [string, number, number]> = [
  [':method', 0, 3],
  [':path', 3, 31],
  [':scheme', 31, 35],
  [':authority', 35, 51],
  ['user-agent', 51, 82],
  ['x-forwarded-proto', 31, 35],
  ['x-request-id', 82, 118],
];
function proxiedHeaders(): HeaderMap {
  const h = new HeaderMap();
  for (const [name, start, end] of proxiedFields) h.add(name, proxiedText.slice(start, end));
  return h;
}
const proxiedResponse = new HeaderMap();
proxiedResponse.add(':status', '200');
proxiedResponse.add('content-length', '23');
/** A finished stream as telemetry reads it. */
function finishedStream(): StreamInfo {
  const info = new StreamInfo('bench', '10.0.0.7', 40000, '127.0.0.1', 10000);
  info.requestHeaders = proxiedHeaders();
  info.responseHeaders = proxiedResponse;
  info.requestId = '2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e';
  info.responseCode = 200;
  info.upstreamCluster = 'inbound|8080||shop';
  info.upstreamHost = '127.0.0.1:8080';
  info.durationMs = 0.4;
  return info;
}
const accessLog = buildFormatter(undefined);
// The access-log thread's side: a batch of 1000 recorded lines, printed one line per call and
// read again from the start once done (the thread reads each batch with one reader).
const recordedLines = new ProtoWriter(256 * 1024);
for (let i = 0; i < 1000; i++) accessLog.recordInto(finishedStream(), recordedLines);
const recorded = new Uint8Array(recordedLines.buf.subarray(0, recordedLines.pos));
const printed = new ProtoWriter(1024 * 1024);
let reader = new RecordReader(recorded);
let linesLeft = 1000;
function printLine(): void {
  if (linesLeft === 0) {
    reader = new RecordReader(recorded);
    linesLeft = 1000;
    printed.pos = 0;
  }
  linesLeft--;
  accessLog.formatRecordInto(reader, printed);
}

const results = [
  measure('parse request head (9 headers)', () => parser.execute(head)),
  measure('route lookup (50 routes, last matches)', () => {
    if (table.route('shop.example.com', '/api/v1/items/42', 'expand=true', headers) === null)
      throw new Error('no route');
  }),
  measure('header map build + 3 lookups', () => {
    const m = new HeaderMap();
    for (let i = 0; i < 10; i++) m.add(`x-h${i}`, 'v');
    m.get('x-h9');
    m.get(':path');
    m.has('x-h3');
  }),
  measure('request through the connection manager (keep-alive, 200 + 23 B body)', () => downstream.emit('data', head)),
  measure('route timeout (15 s) armed and cancelled on the timer wheel', () => {
    const t = new WheelTimer(timerOwner, 0);
    t.arm(15_000);
    t.cancel();
  }),
  measure('route timeout (15 s) armed and cancelled with setTimeout', () =>
    clearTimeout(setTimeout(() => timerOwner.onWheelTimer(), 15_000)),
  ),
  measure('finished stream (StreamInfo), which the two telemetry rows below include', () => void finishedStream()),
  measure('sampled span started, then finished into its export batch as OTLP', () => {
    const info = finishedStream();
    tracer.startSpan(info, info.requestHeaders!, 'ingress').finishSpan(info, null);
  }),
  measure('default access-log format recorded into its batch', () => {
    const info = finishedStream();
    const w = spanPipeline.beginRecord()!;
    w.ensure(5);
    w.varint(1);
    accessLog.recordInto(info, w);
  }),
  measure("the same line printed from its record (the access-log thread's part)", printLine),
];
if (downstream.bytesWritten === 0) throw new Error('the connection manager wrote nothing');
if (lastHead === null) throw new Error('parser produced nothing');
process.stdout.write(`${JSON.stringify({ benchmark: 'proxy-hot-paths', iterations: ITERATIONS, results }, null, 2)}\n`);
