// A stand-in for a connection's native stream in micro-benchmarks: it takes writes and drops
// them, so a benchmark can drive the connection manager and its codec in a loop and measure
// their per-request CPU without the kernel. Never used by tests (they use real sockets). Beside
// it, the connection manager's settings, the terminal filter and the tracer those benchmarks share.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { HcmSettings } from '../../proxy/core/http/conn-manager.js';
import { FilterDataStatus, FilterHeadersStatus, type StreamFilterFactory } from '../../proxy/core/http/filter.js';
import { HeaderMap } from '../../proxy/core/http/headers.js';
import { ProtoWriter } from '../../proxy/telemetry/proto-writer.js';
import type { SpanPipeline } from '../../proxy/tracing/span-pipeline.js';
import { MeshTracer } from '../../proxy/tracing/tracer.js';

export class DiscardStream extends EventEmitter {
  readonly remoteAddress = '10.0.0.7';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 10000;
  readonly writableNeedDrain = false;
  readonly destroyed = false;
  readonly writableEnded = false;
  bytesWritten = 0;

  write(data: string | Buffer): boolean {
    this.bytesWritten += data.length;
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}

  /** Typed as the native stream a transport socket hands to a codec. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}

/** A plain HTTP/1.1 ingress connection manager, as the benchmarks drive it. */
export const benchHcmSettings: HcmSettings = {
  statPrefix: 'ingress_http',
  userAgent: null,
  generateRequestId: true,
  preserveExternalRequestId: false,
  useRemoteAddress: false,
  xffNumTrustedHops: 0,
  skipXffAppend: false,
  serverName: 'envoy',
  serverHeaderTransformation: 'OVERWRITE',
  idleTimeoutMs: 0,
  requestHeadersTimeoutMs: 0,
  maxRequestHeadersBytes: 60 * 1024,
  maxHeadersCount: 100,
  acceptHttp10: false,
  defaultHostForHttp10: '',
  upgrades: new Map(),
  normalizePath: false,
  mergeSlashes: false,
  bufferLimitBytes: 1024 * 1024,
  streamIdleTimeoutMs: 0,
  requestTimeoutMs: 0,
  codecType: 'HTTP1',
  http2: {
    maxConcurrentStreams: 100,
    initialStreamWindowSize: 65535,
    initialConnectionWindowSize: 65535,
    maxRequestHeadersBytes: 8192,
    maxHeadersCount: 50,
    maxConsecutiveInboundFramesWithEmptyPayload: 1,
    maxInboundPriorityFramesPerStream: 100,
    streamIdleTimeoutMs: 0,
  },
};
export const responseBody = Buffer.from('{"id":42,"name":"item"}');
/** The terminal filter: routes, then answers as an upstream would (a sized JSON body). */
export const answer: StreamFilterFactory = (cb) => ({
  decoder: {
    decodeHeaders() {
      if (cb.route() === null) throw new Error('no route');
      const h = new HeaderMap();
      h.add(':status', '200');
      h.add('content-type', 'application/json');
      h.add('content-length', String(responseBody.length));
      cb.encodeHeaders(h, false);
      cb.encodeData(responseBody, true);
      return FilterHeadersStatus.StopIteration;
    },
    decodeData: () => FilterDataStatus.Continue,
    onDestroy() {},
  },
});

/**
 * An inbound sidecar's tracer sampling every request, its spans written through `pipeline` into
 * `spanBatch`, a buffer rewound as a pipeline's is after a post (the export thread's work is not
 * measured).
 */
export function benchTracer(): { tracer: MeshTracer; pipeline: SpanPipeline; spanBatch: ProtoWriter } {
  const spanBatch = new ProtoWriter(1024 * 1024);
  const pipeline = {
    beginRecord: () => {
      if (spanBatch.pos > 512 * 1024) spanBatch.pos = 0;
      return spanBatch;
    },
    endRecord: () => {},
  } as unknown as SpanPipeline;
  const tracer = new MeshTracer({
    nodeId: 'sidecar-1',
    direction: 'INBOUND',
    // W3C only: what the OpenTelemetry tracer injects (tracing/factory.ts).
    injectFormats: 1,
    sampling: { randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100 },
    spawnUpstreamSpan: false,
    maxPathTagLength: 256,
    customTags: [],
    pipeline,
  });
  return { tracer, pipeline, spanBatch };
}
