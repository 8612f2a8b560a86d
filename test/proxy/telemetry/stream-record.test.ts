// File and stdout access logs are printed on the access-log thread from each stream's raw
// record: the request thread records the operators' raw values (recordInto), the thread prints
// the line (formatRecordInto). The line must be byte for byte the one formatting on the request
// thread gives, for every kind of operator, several streams in one batch.
import { describe, expect, it } from 'vitest';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import { ResponseFlag, StreamInfo } from '../../../proxy/core/stream-info.js';
import { ProtoWriter } from '../../../proxy/telemetry/proto-writer.js';
import { RecordReader } from '../../../proxy/telemetry/stream-record.js';
import {
  CompiledJson,
  DEFAULT_ACCESS_LOG_FORMAT,
  TextFormatter,
  type LineFormatter,
} from '../../../proxy/telemetry/substitution-format.js';

function stream(n: number): StreamInfo {
  const info = new StreamInfo('ingress', '10.1.2.3', 40000 + n, '127.0.0.1', 10000);
  const req = new HeaderMap();
  req.add(':method', n % 2 === 0 ? 'POST' : 'GET');
  req.add(':path', `/orders/${n}?x=1`);
  req.add(':authority', 'shop.local');
  // Stream 4's agent is under 128 characters but over 128 bytes of UTF-8, stream 5's just under.
  const agents: Record<number, string> = {
    1: `curl/8 é ü ${'x'.repeat(300)}`,
    4: 'ü'.repeat(70),
    5: `é${'x'.repeat(125)}`,
  };
  req.add('user-agent', agents[n] ?? 'curl/8');
  req.add('x-request-id', `req-${n}`);
  if (n === 2) {
    req.add('content-type', 'application/grpc');
    req.add('x-envoy-original-path', '/api/orders/2');
  }
  const resp = new HeaderMap();
  resp.add(':status', '201');
  if (n !== 1) resp.add('x-envoy-upstream-service-time', String(n));
  info.requestHeaders = req;
  info.responseHeaders = resp;
  info.responseCode = n === 2 ? 503 : 201;
  info.bytesReceived = 12 * n;
  info.bytesSent = 1_234_567_890 + n;
  info.durationMs = 9.7 + n;
  info.upstreamHost = n === 3 ? null : '127.0.0.1:8080';
  info.upstreamCluster = 'orders';
  if (n > 0) info.setResponseFlag(n === 2 ? ResponseFlag.NoHealthyUpstream : ResponseFlag.UpstreamRetryLimitExceeded);
  return info;
}

/** Records `streams` into one batch, prints each line from it and compares with formatting in place. */
function expectPrintedAsInPlace(f: LineFormatter, streams: StreamInfo[]): void {
  const batch = new ProtoWriter(16);
  for (const info of streams) f.recordInto(info, batch);
  const reader = new RecordReader(new Uint8Array(batch.buf.buffer, batch.buf.byteOffset, batch.pos));
  for (const info of streams) {
    const expected = new ProtoWriter(16);
    f.formatInto(info, expected);
    const printed = new ProtoWriter(16);
    f.formatRecordInto(reader, printed);
    expect(printed.buf.subarray(0, printed.pos).toString('utf8')).toBe(
      expected.buf.subarray(0, expected.pos).toString('utf8'),
    );
  }
}

const FORMATS: Array<[string, LineFormatter]> = [
  ['default', new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT)],
  [
    'derived operators',
    new TextFormatter(
      '%START_TIME(%Y-%m-%dT%H:%M:%S.%3f %s)% %RESPONSE_FLAGS% %RESPONSE_FLAGS:1% %GRPC_STATUS% %GRPC_STATUS(NUMBER)% ' +
        '%GRPC_STATUS(SNAKE_STRING)% %DURATION% %REQ(USER-AGENT):10% %UPSTREAM_HOST% %DOWNSTREAM_REMOTE_ADDRESS% 100%%\n',
    ),
  ],
  [
    'operators side by side, long and multi-byte literals',
    new TextFormatter('%RESPONSE_CODE%%DURATION%%REQ(:METHOD)% → a literal longer than sixteen bytes %UPSTREAM_HOST%'),
  ],
  [
    'json',
    new CompiledJson({
      start: '%START_TIME%',
      code: '%RESPONSE_CODE%',
      flags: '%RESPONSE_FLAGS%',
      grpc: '%GRPC_STATUS%',
      line: '%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% took %DURATION%ms',
      nested: { ua: '%REQ(USER-AGENT)%', host: '%UPSTREAM_HOST%', fixed: 7 },
    }),
  ],
];

describe('access-log records', () => {
  for (const [name, f] of FORMATS) {
    it(`print the same lines as formatting in place (${name})`, () => {
      expectPrintedAsInPlace(f, [0, 1, 2, 3, 4, 5].map(stream));
    });
  }
});

describe('access-log records printed without building strings', () => {
  // Start times across the cached second's edges (before 1970, a fraction of a millisecond,
  // past year 9999) and header values JSON must escape (quote, backslash, control, non-ASCII).
  const starts = [0, 5, 999, 1000, 1_000_000_000_050, -1, -1001, 1_765_000_000_999, 1234.9, 253_402_300_800_000];
  const agents = ['say "hi"', 'back\\slash', 'tab\there', 'del\u007f', 'ü 😀', 'plain', '', 'x'.repeat(200), 'q"'];
  function streamAt(n: number): StreamInfo {
    const info = stream(n % 6);
    Object.defineProperty(info, 'startTime', { value: starts[n % starts.length] });
    info.requestHeaders!.set('user-agent', agents[n % agents.length]!);
    if (n % 3 === 0) info.durationMs = 2.5e12 + n;
    return info;
  }
  const formats: Array<[string, LineFormatter]> = [
    ['default', new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT)],
    ['start time truncated', new TextFormatter('%START_TIME%:12 %START_TIME% %RESPONSE_FLAGS%\n')],
    [
      'json, keys escaped, literals and empty objects',
      new CompiledJson({
        'quo"te\\ é': '%REQ(USER-AGENT)%',
        start: '%START_TIME%',
        flags: '%RESPONSE_FLAGS%',
        dur: '%DURATION%',
        mixed: '%REQ(USER-AGENT)% at %START_TIME%',
        empty: {},
        deep: { t: true, f: false, n: -1.5, big: 1e21, code: '%RESPONSE_CODE%', host: '%UPSTREAM_HOST%' },
      }),
    ],
    // Integer-like keys print first, in order, whatever the template's order; `__proto__` not at all.
    [
      'json, keys JSON.stringify moves',
      new CompiledJson({ b: '%RESPONSE_CODE%', 10: '%DURATION%', 2: '%START_TIME%' }),
    ],
    ['json, __proto__ key', new CompiledJson(JSON.parse('{"a":"%RESPONSE_CODE%","__proto__":"%DURATION%"}'))],
  ];
  for (const [name, f] of formats) {
    it(`prints the same lines as formatting in place (${name})`, () => {
      expectPrintedAsInPlace(
        f,
        Array.from({ length: 30 }, (_, n) => streamAt(n)),
      );
    });
  }
});
