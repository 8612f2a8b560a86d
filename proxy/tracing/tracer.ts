// The proxy's tracer: per stream it extracts the incoming context, decides sampling, and
// returns a span the connection manager drives (inject per upstream attempt, finish at the
// end). Span kinds follow the listener: INBOUND → SERVER span, OUTBOUND → CLIENT span, and a
// front proxy (or `spawn_upstream_span`) → a SERVER span plus a CLIENT span per attempt.
// Unsampled streams still get a (non-recording) span so the "not sampled" decision is
// propagated downstream instead of being lost. Attribute values are only read at finish,
// from StreamInfo, straight into the span's transport record (no attribute object).
import type { SpanKind } from '@opentelemetry/api';
import type { Span, StreamInfo, UpstreamAttemptInfo } from '../core/stream-info.js';
import { formatResponseFlags } from '../core/stream-info.js';
import { newSpanId, newTraceId } from './ids.js';
import { decideSampling, SamplingReason, type SamplingPolicy } from './sampling.js';
import type { SpanPipeline } from './span-pipeline.js';
import { extractTraceContext, injectTraceContext, TraceFormat, type TraceHeaders } from './trace-context.js';
import { knownKeyField, WIRE_SPAN_END, wireKeyField, wireNumber, wireSpanHead, wireString } from './wire-span.js';

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
  /** `node_id` and `component` as transport fields, the same for every span. */
  readonly nodeAndComponent: string;
  readonly customTags: readonly WireCustomTag[];
}

/** A custom tag with its transport field (literal) or key field (header) computed at config time. */
type WireCustomTag = { readonly kind: 'literal'; readonly field: string } | { readonly kind: 'request_header'; readonly keyField: string; readonly name: string; readonly defaultValue: string };

const F_METHOD = knownKeyField('http.request.method');
const F_PATH = knownKeyField('url.path');
const F_SCHEME = knownKeyField('url.scheme');
const F_SERVER_ADDRESS = knownKeyField('server.address');
const F_USER_AGENT = knownKeyField('user_agent.original');
const F_STATUS_CODE = knownKeyField('http.response.status_code');
const F_PEER_ADDRESS = knownKeyField('network.peer.address');
const F_UPSTREAM_CLUSTER = knownKeyField('upstream_cluster');
const F_PEER_SERVICE = knownKeyField('peer.service');
const F_UPSTREAM_ADDRESS = knownKeyField('upstream.address');
const F_RESPONSE_FLAGS = knownKeyField('response_flags');
const F_REQUEST_ID = knownKeyField('guid:x-request-id');

function epochOf(info: StreamInfo, t: number): number {
  // Callers pass either epoch or performance.now() milliseconds; normalize to epoch.
  return t > 1e12 ? t : info.startTime + (t - info.startMonotonic);
}

function nowEpoch(info: StreamInfo): number {
  return info.startTime + info.elapsedMs();
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
  readonly #startMs: number;
  readonly #kind: SpanKind;
  /** Set for a CLIENT attempt span: its stream span. */
  readonly #parent: StreamSpan | null;
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
  ) {
    this.#shared = shared;
    this.#name = name;
    this.#kind = kind;
    this.traceId = traceId;
    this.spanId = newSpanId();
    this.parentSpanId = parentSpanId;
    this.sampled = sampled;
    this.debug = debug;
    this.traceState = traceState;
    this.#formats = formats;
    this.#startMs = startMs;
    this.#parent = parent;
  }

  spawnChild(operationName: string, startTimeMs: number): Span {
    if (!this.#shared.childPerAttempt) return new AttemptView(this);
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
      startTimeMs,
      this,
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
    // The transport record is built field by field: no attribute object, no key lookups.
    let attrs = '';
    const req = info.requestHeaders;
    const isClient = this.#kind === CLIENT_KIND;
    if (req !== null) {
      const method = req.get(':method');
      if (method !== undefined) attrs += wireString(F_METHOD, method);
      const path = req.get(':path');
      if (path !== undefined) attrs += wireString(F_PATH, pathTag(path, options.maxPathTagLength));
      attrs += wireString(F_SCHEME, req.get(':scheme') ?? req.get('x-forwarded-proto') ?? 'http');
      const authority = req.get(':authority');
      if (authority !== undefined) attrs += wireString(F_SERVER_ADDRESS, hostOf(authority));
      const ua = req.get('user-agent');
      if (ua !== undefined) attrs += wireString(F_USER_AGENT, ua);
      for (const t of shared.customTags) {
        if (t.kind === 'literal') attrs += t.field;
        else attrs += wireString(t.keyField, req.get(t.name) ?? t.defaultValue);
      }
    }
    const code = attempt !== null ? attempt.responseCode : info.responseCode;
    if (code > 0) attrs += wireNumber(F_STATUS_CODE, code);
    attrs += wireString(F_PEER_ADDRESS, info.downstreamRemoteAddress);
    const cluster = attempt !== null ? attempt.cluster : info.upstreamCluster;
    if (cluster !== null && cluster !== '') {
      attrs += wireString(F_UPSTREAM_CLUSTER, cluster);
      if (isClient) attrs += wireString(F_PEER_SERVICE, cluster);
    }
    const host = attempt !== null ? attempt.upstreamHost : info.upstreamHost;
    if (host !== null) attrs += wireString(F_UPSTREAM_ADDRESS, host);
    const flags = attempt !== null ? attempt.responseFlags | (this.#parent === null ? info.responseFlags : 0) : info.responseFlags;
    attrs += wireString(F_RESPONSE_FLAGS, formatResponseFlags(flags));
    attrs += shared.nodeAndComponent;
    if (info.requestId !== null) attrs += wireString(F_REQUEST_ID, info.requestId);
    if (this.#tags !== null) for (const [k, v] of this.#tags) attrs += wireString(wireKeyField(k), v);

    const error = code >= 500 || code === 0 || flags !== 0;
    const startMs = this.#parent === null ? info.startTime : epochOf(info, this.#startMs);
    const endMs = this.#parent === null && info.durationMs >= 0 ? info.startTime + info.durationMs : nowEpoch(info);
    const head = wireSpanHead({
      name: this.#name,
      kind: this.#kind,
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      parentIsRemote: this.#parent === null,
      traceState: this.traceState,
      startMs,
      endMs,
      error,
    });
    options.pipeline.submit(head + attrs + WIRE_SPAN_END);
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
      nodeAndComponent: wireString(knownKeyField('node_id'), options.nodeId) + wireString(knownKeyField('component'), 'proxy'),
      customTags: options.customTags.map((t): WireCustomTag =>
        t.kind === 'literal'
          ? { kind: 'literal', field: wireString(wireKeyField(t.tag), t.value) }
          : { kind: 'request_header', keyField: wireKeyField(t.tag), name: t.name, defaultValue: t.defaultValue },
      ),
    };
  }

  /** Starts the stream's span; it is recording only when sampled. */
  startSpan(info: StreamInfo, requestHeaders: TraceHeaders, operationName: string): Span {
    const shared = this.#shared;
    const incoming = extractTraceContext(requestHeaders);
    const reason = decideSampling(incoming, requestHeaders, shared.options.sampling);
    const sampled = reason !== SamplingReason.NotTraceable;
    const traceId = incoming.traceId === '' ? newTraceId() : incoming.traceId;
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
      info.startTime,
      null,
    );
  }
}

export const DEFAULT_INJECT_FORMATS = TraceFormat.W3C | TraceFormat.B3Multi;

/** The ids of a stream's span when it is one of ours (access logs join traces through them). */
export function streamSpanContext(span: Span | null): { traceId: string; spanId: string; sampled: boolean } | null {
  return span instanceof StreamSpan ? { traceId: span.traceId, spanId: span.spanId, sampled: span.sampled } : null;
}
