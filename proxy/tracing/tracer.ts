// The proxy's tracer: per stream it extracts the incoming context, decides sampling, and
// returns a span the connection manager drives (inject per upstream attempt, finish at the
// end). Span kinds follow the listener: INBOUND → SERVER span, OUTBOUND → CLIENT span, and a
// front proxy (or `spawn_upstream_span`) → a SERVER span plus a CLIENT span per attempt.
// Unsampled streams still get a (non-recording) span so the "not sampled" decision is
// propagated downstream instead of being lost. Attribute values are only read at finish,
// from StreamInfo, straight into the export batch as OTLP protobuf (no attribute object).
import type { SpanKind } from '@opentelemetry/api';
import type { HttpProtocol, Span, StreamInfo, UpstreamAttemptInfo } from '../core/stream-info.js';
import type { SslConnectionInfo } from '../core/network/ssl-connection-info.js';
import { ProtoWriter } from '../telemetry/proto-writer.js';
import { formatResponseFlags } from '../core/stream-info.js';
import { grpcServiceMethod, isGrpcContentType, streamGrpcStatus } from '../core/grpc/common.js';
import { lastIdAt, lastIdPool, newSpanId, newTraceId } from './ids.js';
import { decideSampling, SamplingReason, type SamplingPolicy } from './sampling.js';
import type { SpanPipeline } from './span-pipeline.js';
import { extractTraceContext, injectTraceContext, type TraceHeaders } from './trace-context.js';
import {
  attributeKey,
  beginSpanFields,
  boolAttribute,
  constantStringAttribute,
  endSpan,
  numberAttribute,
  StringAttributeCache,
  stringAttribute,
  type AttributeKey,
} from './otlp-span.js';

// SpanKind's values, so the request thread never loads @opentelemetry/api (~8 MB resident)
// for an enum: the SDK runs in the export thread only.
const SERVER_KIND: SpanKind = 1;
const CLIENT_KIND: SpanKind = 2;

/** Envoy's `custom_tags`: a literal, a request header, or an environment variable. */
export type CustomTag =
  | { readonly tag: string; readonly kind: 'literal'; readonly value: string }
  | { readonly tag: string; readonly kind: 'request_header'; readonly name: string; readonly defaultValue: string };

export interface MeshTracerOptions {
  readonly nodeId: string;
  readonly direction: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  /** Formats injected upstream (bit flags of TraceFormat); the arrived format is always added. */
  readonly injectFormats: number;
  readonly sampling: SamplingPolicy;
  /** A CLIENT span per upstream attempt even on sidecar listeners. */
  readonly spawnUpstreamSpan: boolean;
  readonly maxPathTagLength: number;
  readonly customTags: readonly CustomTag[];
  readonly pipeline: SpanPipeline;
}

/** Shared, immutable per-tracer state. */
interface TracerShared {
  readonly options: MeshTracerOptions;
  /** Whether the stream span is a SERVER span (else CLIENT). */
  readonly serverKind: boolean;
  /** Whether each upstream attempt gets its own CLIENT span. */
  readonly childPerAttempt: boolean;
  /** `node_id` and `component`, the same for every span, encoded once. */
  readonly nodeAndComponent: Uint8Array;
  readonly customTags: readonly EncodedCustomTag[];
  /** The runs of attributes that repeat from span to span, by upstream address (RepeatedRun). */
  readonly runs: Map<string | null, RepeatedRun>;
  /** Request attributes whose values usually repeat, each encoded once (per tracer). */
  readonly serverAddress: StringAttributeCache;
  readonly userAgent: StringAttributeCache;
  readonly peerAddress: StringAttributeCache;
}

/**
 * The attributes that repeat from span to span on a tracer (method, scheme, status code,
 * protocol, upstream cluster and peer.service, upstream address, no response flags, node_id and
 * component), encoded once per combination and appended as one run: one lookup and one copy per
 * span where there were ten lookups and appends (the copies' per-call cost dominated). Runs are
 * found by upstream address, the value with the most distinct values (hosts come from config or
 * EDS), and checked field by field; a client's method or scheme cannot grow them: at most
 * MAX_RUNS, and values longer than MAX_RUN_VALUE_LENGTH are encoded per span instead.
 */
interface RepeatedRun {
  readonly method: string | undefined;
  readonly scheme: string | undefined;
  readonly code: number;
  readonly protocol: HttpProtocol;
  readonly cluster: string | null;
  readonly client: boolean;
  readonly noFlags: boolean;
  readonly bytes: Uint8Array;
}

const MAX_RUNS = 256;
const MAX_RUN_VALUE_LENGTH = 128;

/** A custom tag encoded at config time: a whole attribute (literal), or its key (header). */
type EncodedCustomTag =
  | { readonly kind: 'literal'; readonly attribute: Uint8Array }
  | {
      readonly kind: 'request_header';
      readonly key: AttributeKey;
      readonly name: string;
      readonly defaultValue: string;
    };

const K_METHOD = attributeKey('http.request.method');
const K_PATH = attributeKey('url.path');
const K_SCHEME = attributeKey('url.scheme');
const K_SERVER_ADDRESS = attributeKey('server.address');
const K_USER_AGENT = attributeKey('user_agent.original');
const K_STATUS_CODE = attributeKey('http.response.status_code');
const K_PEER_ADDRESS = attributeKey('network.peer.address');
const K_UPSTREAM_CLUSTER = attributeKey('upstream_cluster');
const K_PEER_SERVICE = attributeKey('peer.service');
const K_UPSTREAM_ADDRESS = attributeKey('upstream.address');
const K_RESPONSE_FLAGS = attributeKey('response_flags');
const K_REQUEST_ID = attributeKey('guid:x-request-id');
const K_RPC_SYSTEM = attributeKey('rpc.system');
const K_RPC_SERVICE = attributeKey('rpc.service');
const K_RPC_METHOD = attributeKey('rpc.method');
const K_RPC_GRPC_STATUS = attributeKey('rpc.grpc.status_code');
// OpenTelemetry's tls.* conventions, and the peers' mesh identities in Istio's attribute names:
// OpenTelemetry has no attribute for a SPIFFE ID, and Istio calls a peer's URI SAN its principal.
const K_TLS_ESTABLISHED = attributeKey('tls.established');
const K_TLS_VERSION = attributeKey('tls.protocol.version');
const K_TLS_CIPHER = attributeKey('tls.cipher');
const K_TLS_CLIENT_SUBJECT = attributeKey('tls.client.subject');
const K_TLS_SERVER_SUBJECT = attributeKey('tls.server.subject');
const K_SOURCE_PRINCIPAL = attributeKey('source.principal');
const K_DESTINATION_PRINCIPAL = attributeKey('destination.principal');
const TLS_NAME_ATTRIBUTE = constantStringAttribute(attributeKey('tls.protocol.name'), 'tls');
/** response_flags of a stream that had none (most of them), encoded once. */
const NO_RESPONSE_FLAGS_ATTRIBUTE = constantStringAttribute(K_RESPONSE_FLAGS, formatResponseFlags(0));

/**
 * The TLS attributes of each connection, encoded at its first span: they are facts of the
 * handshake, the same for every request on the connection, and reading them costs native calls
 * (the protocol, the cipher) and the peer subject's RFC 2253 text per read. Keyed by the
 * connection's SslConnectionInfo, so they go with the connection; SERVER spans read the
 * downstream connection and CLIENT spans the upstream one, whose attributes differ.
 */
const TLS_ATTRIBUTES = {
  server: new WeakMap<SslConnectionInfo, Uint8Array>(),
  client: new WeakMap<SslConnectionInfo, Uint8Array>(),
};

function writeTlsAttributes(w: ProtoWriter, ssl: SslConnectionInfo, client: boolean): void {
  const memo = client ? TLS_ATTRIBUTES.client : TLS_ATTRIBUTES.server;
  let bytes = memo.get(ssl);
  if (bytes === undefined) {
    const t = new ProtoWriter(512);
    tlsAttributes(t, ssl, client);
    bytes = new Uint8Array(t.buf.subarray(0, t.pos));
    memo.set(ssl, bytes);
  }
  w.append(bytes);
}

/**
 * The hop's TLS from a connection's SslConnectionInfo: tls.established, tls.protocol.name and
 * version (`1.3`), tls.cipher, the peer certificate's subject (tls.client.subject on a SERVER
 * span, tls.server.subject on a CLIENT one), and the SPIFFE identities: source.principal is the
 * client's certificate's URI SAN, destination.principal the server's.
 */
function tlsAttributes(w: ProtoWriter, ssl: SslConnectionInfo, client: boolean): void {
  boolAttribute(w, K_TLS_ESTABLISHED, true);
  w.append(TLS_NAME_ATTRIBUTE);
  const version = ssl.tlsVersion.startsWith('TLSv') ? ssl.tlsVersion.slice(4) : ssl.tlsVersion;
  if (version !== '') stringAttribute(w, K_TLS_VERSION, version);
  if (ssl.ciphersuiteString !== '') stringAttribute(w, K_TLS_CIPHER, ssl.ciphersuiteString);
  if (ssl.peerCertificatePresented)
    stringAttribute(w, client ? K_TLS_SERVER_SUBJECT : K_TLS_CLIENT_SUBJECT, ssl.subjectPeerCertificate);
  const peer = ssl.peerCertificatePresented ? ssl.uriSanPeerCertificate[0] : undefined;
  const local = ssl.uriSanLocalCertificate[0];
  const source = client ? local : peer;
  const destination = client ? peer : local;
  if (source !== undefined) stringAttribute(w, K_SOURCE_PRINCIPAL, source);
  if (destination !== undefined) stringAttribute(w, K_DESTINATION_PRINCIPAL, destination);
}

/**
 * OpenTelemetry's RPC conventions: a CLIENT span errs on any status but OK, a SERVER span only on
 * the ones that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
 * UNAVAILABLE, DATA_LOSS), not on the caller's mistakes.
 */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

// The protocol the request arrived on (OpenTelemetry's network.protocol.*; rpc.system for
// gRPC), encoded once: the service graph marks each edge with its server's protocol.
const PROTOCOL_ATTRIBUTES: Record<HttpProtocol, Uint8Array> = {
  'HTTP/1.0': protocolAttributes('1.0'),
  'HTTP/1.1': protocolAttributes('1.1'),
  'HTTP/2': protocolAttributes('2'),
};
const GRPC_ATTRIBUTE = constantStringAttribute(attributeKey('rpc.system'), 'grpc');

function protocolAttributes(version: string): Uint8Array {
  return Buffer.concat([
    constantStringAttribute(attributeKey('network.protocol.name'), 'http'),
    constantStringAttribute(attributeKey('network.protocol.version'), version),
  ]);
}

// Span times in microseconds (and below): Date.now() and StreamInfo.startTime are whole
// milliseconds, so spans are timed on the monotonic clock from the same origin as the wall
// clock (performance.timeOrigin), which keeps their order and sub-millisecond durations.
const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds (fractional) of a performance.now() reading. */
function epochOf(t: number): number {
  return TIME_ORIGIN + t;
}

function nowEpoch(): number {
  return TIME_ORIGIN + performance.now();
}

function pathTag(path: string, max: number): string {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  return p.length > max ? p.slice(0, max) : p;
}

function hostOf(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end === -1 ? authority : authority.slice(1, end);
  }
  const colon = authority.lastIndexOf(':');
  return colon === -1 ? authority : authority.slice(0, colon);
}

/** Appends the run of repeating attributes for these values, encoding it on first use. */
function writeRepeatedRun(
  w: ProtoWriter,
  shared: TracerShared,
  method: string | undefined,
  scheme: string | undefined,
  code: number,
  protocol: HttpProtocol,
  cluster: string | null,
  host: string | null,
  client: boolean,
  noFlags: boolean,
): void {
  const runs = shared.runs;
  const run = runs.get(host);
  if (
    run !== undefined &&
    run.method === method &&
    run.scheme === scheme &&
    run.code === code &&
    run.protocol === protocol &&
    run.cluster === cluster &&
    run.client === client &&
    run.noFlags === noFlags
  ) {
    w.append(run.bytes);
    return;
  }
  const r = new ProtoWriter(256);
  if (method !== undefined) stringAttribute(r, K_METHOD, method);
  if (scheme !== undefined) stringAttribute(r, K_SCHEME, scheme);
  if (code > 0) numberAttribute(r, K_STATUS_CODE, code);
  r.append(PROTOCOL_ATTRIBUTES[protocol]);
  if (cluster !== null && cluster !== '') {
    stringAttribute(r, K_UPSTREAM_CLUSTER, cluster);
    if (client) stringAttribute(r, K_PEER_SERVICE, cluster);
  }
  if (host !== null) stringAttribute(r, K_UPSTREAM_ADDRESS, host);
  if (noFlags) r.append(NO_RESPONSE_FLAGS_ATTRIBUTE);
  r.append(shared.nodeAndComponent);
  const bytes = new Uint8Array(r.buf.subarray(0, r.pos));
  w.append(bytes);
  if ((method?.length ?? 0) > MAX_RUN_VALUE_LENGTH || (scheme?.length ?? 0) > MAX_RUN_VALUE_LENGTH) return;
  if (run === undefined && runs.size >= MAX_RUNS) runs.clear();
  runs.set(host, { method, scheme, code, protocol, cluster, client, noFlags, bytes });
}

class StreamSpan implements Span {
  readonly #shared: TracerShared;
  readonly #name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly sampled: boolean;
  readonly debug: boolean;
  readonly traceState: string;
  readonly #formats: number;
  /** performance.now() at the span's start. */
  readonly #startMs: number;
  readonly #kind: SpanKind;
  /** Set for a CLIENT attempt span: its stream span. */
  readonly #parent: StreamSpan | null;
  /** Where the ids' bytes are when this process made them (ids.ts), else null: see SpanHead (otlp-span.ts). */
  readonly #traceIdBytes: Uint8Array | null;
  readonly #traceIdAt: number;
  readonly #spanIdBytes: Uint8Array;
  readonly #spanIdAt: number;
  readonly #parentIdBytes: Uint8Array | null;
  readonly #parentIdAt: number;
  #tags: Array<[string, string]> | null = null;
  #finished = false;

  constructor(
    shared: TracerShared,
    name: string,
    kind: SpanKind,
    traceId: string,
    parentSpanId: string,
    sampled: boolean,
    debug: boolean,
    traceState: string,
    formats: number,
    startMs: number,
    parent: StreamSpan | null,
    traceIdBytes: Uint8Array | null,
    traceIdAt: number,
    parentIdBytes: Uint8Array | null,
    parentIdAt: number,
  ) {
    this.#shared = shared;
    this.#name = name;
    this.#kind = kind;
    this.traceId = traceId;
    this.spanId = newSpanId();
    this.#spanIdBytes = lastIdPool();
    this.#spanIdAt = lastIdAt();
    this.#traceIdBytes = traceIdBytes;
    this.#traceIdAt = traceIdAt;
    this.#parentIdBytes = parentIdBytes;
    this.#parentIdAt = parentIdAt;
    this.parentSpanId = parentSpanId;
    this.sampled = sampled;
    this.debug = debug;
    this.traceState = traceState;
    this.#formats = formats;
    this.#startMs = startMs;
    this.#parent = parent;
  }

  spawnChild(operationName: string, _startTimeMs: number, force = false): Span {
    if (!this.#shared.childPerAttempt && !force) return new AttemptView(this);
    // The attempt starts now; its wall-clock start (whole ms) is not precise enough for a span.
    return new StreamSpan(
      this.#shared,
      operationName,
      CLIENT_KIND,
      this.traceId,
      this.spanId,
      this.sampled,
      this.debug,
      this.traceState,
      this.#formats,
      performance.now(),
      this,
      this.#traceIdBytes,
      this.#traceIdAt,
      this.#spanIdBytes,
      this.#spanIdAt,
    );
  }

  injectContext(headers: TraceHeaders): void {
    injectTraceContext(headers, this, this.#formats);
  }

  setTag(name: string, value: string): void {
    (this.#tags ??= []).push([name, value]);
  }

  finishSpan(info: StreamInfo, attempt: UpstreamAttemptInfo | null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.sampled) return;
    const shared = this.#shared;
    const options = shared.options;
    const pipeline = options.pipeline;
    const w = pipeline.beginRecord();
    if (w === null) return;
    const code = attempt !== null ? attempt.responseCode : info.responseCode;
    const flags =
      attempt !== null ? attempt.responseFlags | (this.#parent === null ? info.responseFlags : 0) : info.responseFlags;
    const isRoot = this.#parent === null;
    const lengthAt = beginSpanFields(
      w,
      this.#name,
      this.#kind,
      this.traceId,
      this.spanId,
      this.parentSpanId,
      this.traceState,
      epochOf(isRoot ? info.startMonotonic : this.#startMs),
      isRoot && info.durationMs >= 0 ? epochOf(info.startMonotonic) + info.durationMs : nowEpoch(),
      this.#traceIdBytes,
      this.#traceIdAt,
      this.#spanIdBytes,
      this.#spanIdAt,
      this.#parentIdBytes,
      this.#parentIdAt,
    );
    // Attributes are written field by field: no attribute object, no key lookups. Those that
    // vary per request first, then the run of those that repeat (RepeatedRun), then the rare ones.
    const req = info.requestHeaders;
    let grpcStatus = -1;
    let method: string | undefined;
    let scheme: string | undefined;
    if (req !== null) {
      method = req.get(':method');
      const path = req.get(':path');
      if (path !== undefined) stringAttribute(w, K_PATH, pathTag(path, options.maxPathTagLength));
      scheme = req.get(':scheme') ?? req.get('x-forwarded-proto') ?? 'http';
      const authority = req.get(':authority');
      if (authority !== undefined) shared.serverAddress.write(w, authority);
      const ua = req.get('user-agent');
      if (ua !== undefined) shared.userAgent.write(w, ua);
      // Read once: the gRPC conventions below test the same header (isGrpcRequest read it again).
      const contentType = req.get('content-type');
      if (contentType?.startsWith('application/grpc') === true) w.append(GRPC_ATTRIBUTE);
      for (const t of shared.customTags) {
        if (t.kind === 'literal') w.append(t.attribute);
        else stringAttribute(w, t.key, req.get(t.name) ?? t.defaultValue);
      }
      // OpenTelemetry's RPC conventions for a gRPC call: service and method from the path, the
      // status from the trailers (or a trailers-only head, or the HTTP status mapped).
      if (path !== undefined && isGrpcContentType(contentType)) {
        stringAttribute(w, K_RPC_SYSTEM, 'grpc');
        const sm = grpcServiceMethod(path);
        if (sm !== null) {
          stringAttribute(w, K_RPC_SERVICE, sm.service);
          stringAttribute(w, K_RPC_METHOD, sm.method);
        }
        grpcStatus = streamGrpcStatus(info);
        if (grpcStatus !== -1) numberAttribute(w, K_RPC_GRPC_STATUS, grpcStatus);
      }
    }
    shared.peerAddress.write(w, info.downstreamRemoteAddress);
    const client = this.#kind === CLIENT_KIND;
    const cluster = attempt !== null ? attempt.cluster : info.upstreamCluster;
    const host = attempt !== null ? attempt.upstreamHost : info.upstreamHost;
    writeRepeatedRun(w, shared, method, scheme, code, info.protocol, cluster, host, client, flags === 0);
    if (flags !== 0) stringAttribute(w, K_RESPONSE_FLAGS, formatResponseFlags(flags));
    // The hop's TLS: the connection the request came in on (SERVER), or went out on (CLIENT).
    const ssl = client ? info.upstreamSsl : info.downstreamSsl;
    if (ssl !== null) writeTlsAttributes(w, ssl, client);
    if (info.requestId !== null) stringAttribute(w, K_REQUEST_ID, info.requestId);
    if (this.#tags !== null) for (const [k, v] of this.#tags) stringAttribute(w, attributeKey(k), v);
    const grpcError = grpcStatus > 0 && (this.#kind === CLIENT_KIND || GRPC_SERVER_ERRORS.has(grpcStatus));
    endSpan(w, lengthAt, code >= 500 || code === 0 || flags !== 0 || grpcError, isRoot && this.parentSpanId !== '');
    pipeline.endRecord();
  }
}

/**
 * One upstream attempt on a span that does not get a CLIENT child: it injects the stream
 * span's context, and the stream span records the attempt's facts when it finishes.
 */
class AttemptView implements Span {
  readonly #span: StreamSpan;

  constructor(span: StreamSpan) {
    this.#span = span;
  }

  spawnChild(): Span {
    return this;
  }

  injectContext(headers: TraceHeaders): void {
    this.#span.injectContext(headers);
  }

  setTag(name: string, value: string): void {
    this.#span.setTag(name, value);
  }

  finishSpan(): void {
    // The stream span carries the final attempt's facts from StreamInfo at its own finish.
  }
}

export class MeshTracer {
  readonly #shared: TracerShared;

  constructor(options: MeshTracerOptions) {
    const serverKind = options.direction !== 'OUTBOUND';
    this.#shared = {
      options,
      serverKind,
      // A front proxy (no direction) makes SERVER + CLIENT per attempt; sidecars only on request.
      childPerAttempt: options.direction === 'UNSPECIFIED' || (options.spawnUpstreamSpan && serverKind),
      nodeAndComponent: Buffer.concat([
        constantStringAttribute(attributeKey('node_id'), options.nodeId),
        constantStringAttribute(attributeKey('component'), 'proxy'),
      ]),
      customTags: options.customTags.map(
        (t): EncodedCustomTag =>
          t.kind === 'literal'
            ? { kind: 'literal', attribute: constantStringAttribute(attributeKey(t.tag), t.value) }
            : { kind: 'request_header', key: attributeKey(t.tag), name: t.name, defaultValue: t.defaultValue },
      ),
      runs: new Map(),
      serverAddress: new StringAttributeCache(K_SERVER_ADDRESS, hostOf),
      userAgent: new StringAttributeCache(K_USER_AGENT),
      peerAddress: new StringAttributeCache(K_PEER_ADDRESS),
    };
  }

  /** Starts the stream's span; it is recording only when sampled. */
  startSpan(info: StreamInfo, requestHeaders: TraceHeaders, operationName: string): Span {
    const shared = this.#shared;
    const incoming = extractTraceContext(requestHeaders);
    const reason = decideSampling(incoming, requestHeaders, shared.options.sampling);
    const sampled = reason !== SamplingReason.NotTraceable;
    const ours = incoming.traceId === '';
    const traceId = ours ? newTraceId() : incoming.traceId;
    const formats = shared.options.injectFormats | incoming.presentFormats | incoming.format;
    return new StreamSpan(
      shared,
      operationName,
      shared.serverKind ? SERVER_KIND : CLIENT_KIND,
      traceId,
      incoming.parentSpanId,
      sampled,
      incoming.debug,
      incoming.traceState,
      formats,
      info.startMonotonic,
      null,
      ours ? lastIdPool() : null,
      ours ? lastIdAt() : 0,
      null,
      0,
    );
  }
}

/** The ids of a stream's span when it is one of ours (access logs join traces through them). */
export function streamSpanContext(span: Span | null): { traceId: string; spanId: string; sampled: boolean } | null {
  return span instanceof StreamSpan ? { traceId: span.traceId, spanId: span.spanId, sampled: span.sampled } : null;
}
