import { describe, expect, it } from 'vitest';
import { HeaderMap } from '../../../proxy/core/http/headers.js';
import { ResponseFlag, StreamInfo } from '../../../proxy/core/stream-info.js';
import {
  encodePeerMetadata,
  localIdentity,
  PeerMetadataDecoder,
  UNKNOWN_IDENTITY,
} from '../../../proxy/telemetry/istio/peer-metadata.js';
import { ProtoWriter } from '../../../proxy/telemetry/proto-writer.js';
import {
  CompiledJson,
  compileFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  FormatError,
  TextFormatter,
} from '../../../proxy/telemetry/substitution-format.js';

function stream(): StreamInfo {
  const info = new StreamInfo('ingress', '10.1.2.3', 40000, '127.0.0.1', 10000);
  const req = new HeaderMap();
  req.add(':method', 'POST');
  req.add(':path', '/orders/42?x=1');
  req.add(':authority', 'shop.local');
  req.add('x-envoy-original-path', '/api/orders/42');
  req.add('user-agent', 'curl/8');
  req.add('x-request-id', 'req-1');
  req.add('x-forwarded-for', '10.9.9.9');
  const resp = new HeaderMap();
  resp.add(':status', '201');
  resp.add('x-envoy-upstream-service-time', '7');
  info.requestHeaders = req;
  info.responseHeaders = resp;
  info.responseCode = 201;
  info.bytesReceived = 12;
  info.bytesSent = 34;
  info.durationMs = 9.7;
  info.upstreamHost = '127.0.0.1:8080';
  info.upstreamCluster = 'orders';
  info.routeName = 'orders_route';
  info.setResponseFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  return info;
}

describe('substitution format strings', () => {
  it("renders Envoy's default format", () => {
    const line = new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT).format(stream());
    expect(line).toMatch(
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "POST \/api\/orders\/42 HTTP\/1\.1" 201 URX 12 34 9 7 "10\.9\.9\.9" "curl\/8" "req-1" "shop\.local" "127\.0\.0\.1:8080"\n$/,
    );
  });

  it('supports REQ(X?Y):Z, RESP, START_TIME formats and the listed operators; missing values are -', () => {
    const info = stream();
    const f = new TextFormatter(
      '%REQ(X-MISSING?:PATH):6%|%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%|%RESP(NOPE)%|%PROTOCOL%|%RESPONSE_CODE%|%RESPONSE_FLAGS%|%BYTES_RECEIVED%|%BYTES_SENT%|%DURATION%|%UPSTREAM_HOST%|%UPSTREAM_CLUSTER%|%DOWNSTREAM_REMOTE_ADDRESS%|%ROUTE_NAME%|%TRACE_ID%|%START_TIME(%Y/%m/%d %s.%3f)%|100%%',
    );
    const parts = f.format(info).split('|');
    expect(parts.slice(0, 14)).toEqual([
      '/order',
      '7',
      '-',
      'HTTP/1.1',
      '201',
      'URX',
      '12',
      '34',
      '9',
      '127.0.0.1:8080',
      'orders',
      '10.1.2.3:40000',
      'orders_route',
      '-',
    ]);
    const d = new Date(info.startTime);
    expect(parts[14]).toBe(
      `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')} ${Math.floor(info.startTime / 1000)}.${String(info.startTime % 1000).padStart(3, '0')}`,
    );
    expect(parts[15]).toBe('100%');
  });

  it('writes each line straight to UTF-8 bytes, the same as its text', () => {
    const info = stream();
    info.requestHeaders!.set('user-agent', `curl/8 é ü ${'x'.repeat(5000)}`);
    info.bytesSent = 0;
    info.bytesReceived = 1_234_567_890;
    const formats = [
      new TextFormatter(DEFAULT_ACCESS_LOG_FORMAT),
      new TextFormatter('%BYTES_SENT%|%BYTES_RECEIVED%|%RESPONSE_CODE%|%RESP(NOPE)%|%REQ(USER-AGENT)%|é%%\n'),
      new CompiledJson({ code: '%RESPONSE_CODE%', ua: '%REQ(USER-AGENT)%', missing: '%RESP(NOPE)%' }),
    ];
    for (const f of formats) {
      // A buffer far too small to start with: it grows as the line is written, after a first line.
      const out = new ProtoWriter(8);
      out.utf8('>');
      f.formatInto(info, out);
      expect(out.buf.subarray(1, out.pos).toString('utf8')).toBe(f.format(info));
    }
  });

  it('JSON format keeps types and nests', () => {
    const j = new CompiledJson({
      code: '%RESPONSE_CODE%',
      up: { host: '%UPSTREAM_HOST%', missing: '%RESP(NOPE)%' },
      text: 'code=%RESPONSE_CODE%',
      fixed: 3,
    });
    expect(JSON.parse(j.format(stream()))).toEqual({
      code: 201,
      up: { host: '127.0.0.1:8080', missing: null },
      text: 'code=201',
      fixed: 3,
    });
  });

  it('refuses unknown operators and bad START_TIME specifiers at compile time', () => {
    expect(() => compileFormat('%NOT_AN_OPERATOR%')).toThrow(FormatError);
    expect(() => compileFormat('%REQ%')).toThrow(/needs a header name/);
    expect(() => compileFormat('%START_TIME(%Q)%')).toThrow(/unsupported START_TIME specifier/);
    expect(() => new CompiledJson({ a: '%NOPE%' })).toThrow(/json_format\.a/);
  });
});

describe('peer metadata', () => {
  it('round-trips a node identity from Istio node metadata', () => {
    const id = localIdentity({
      id: 'n',
      cluster: 'reviews',
      locality: { region: '', zone: '', subZone: '' },
      metadata: {
        NAMESPACE: 'shop',
        WORKLOAD_NAME: 'reviews-v2',
        LABELS: { app: 'reviews', version: 'v2' },
        SERVICE_ACCOUNT: 'reviews',
      },
    });
    expect(id).toMatchObject({
      workload: 'reviews-v2',
      namespace: 'shop',
      app: 'reviews',
      version: 'v2',
      principal: 'spiffe://cluster.local/ns/shop/sa/reviews',
      service: 'reviews.shop.svc.cluster.local',
    });
    expect(new PeerMetadataDecoder().decode(encodePeerMetadata(id))).toEqual(id);
  });

  it('falls back to --service-cluster, rejects garbage and caps distinct peers', () => {
    expect(
      localIdentity({ id: 'n', cluster: 'front', locality: { region: '', zone: '', subZone: '' }, metadata: {} })
        .workload,
    ).toBe('front');
    const d = new PeerMetadataDecoder(2);
    expect(d.decode('%%%not base64 json')).toBeNull();
    const evil = Buffer.from(JSON.stringify({ WORKLOAD_NAME: 'x"} 1\nfoo{', NAMESPACE: 'a'.repeat(300) })).toString(
      'base64',
    );
    expect(d.decode(evil)).toMatchObject({ workload: 'unknown', namespace: 'unknown' });
    const peer = (n: number) => Buffer.from(JSON.stringify({ WORKLOAD_NAME: `w${n}` })).toString('base64');
    expect(d.decode(peer(1))?.workload).toBe('w1');
    expect(d.decode(peer(2))).toBe(UNKNOWN_IDENTITY);
  });
});
