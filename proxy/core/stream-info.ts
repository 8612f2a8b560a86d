// Per-stream facts, Envoy's StreamInfo: what access loggers, tracers and stats read once a
// stream is done. One plain object per stream with fixed fields (a stable hidden class); the
// hot path only assigns fields, formatting happens in the consumers.
import { readTime } from './read-clock.js';
import type { HeaderMap } from './http/headers.js';
import type { SslConnectionInfo } from './network/ssl-connection-info.js';

/**
 * Envoy's response flags, in Envoy's rendering order (`%RESPONSE_FLAGS%` prints the short
 * names joined by commas, or `-` when none is set).
 */
export const ResponseFlag = {
  FailedLocalHealthCheck: 1 << 0,
  NoHealthyUpstream: 1 << 1,
  UpstreamRequestTimeout: 1 << 2,
  LocalReset: 1 << 3,
  UpstreamRemoteReset: 1 << 4,
  UpstreamConnectionFailure: 1 << 5,
  UpstreamConnectionTermination: 1 << 6,
  UpstreamOverflow: 1 << 7,
  NoRouteFound: 1 << 8,
  DelayInjected: 1 << 9,
  FaultInjected: 1 << 10,
  RateLimited: 1 << 11,
  DownstreamConnectionTermination: 1 << 12,
  UpstreamRetryLimitExceeded: 1 << 13,
  StreamIdleTimeout: 1 << 14,
  DownstreamProtocolError: 1 << 15,
  UpstreamProtocolError: 1 << 16,
  NoClusterFound: 1 << 17,
  DurationTimeout: 1 << 18,
  DnsResolutionFailed: 1 << 19,
  UnauthorizedExternalService: 1 << 20,
  RbacAccessDenied: 1 << 21,
} as const;
export type ResponseFlagBit = (typeof ResponseFlag)[keyof typeof ResponseFlag];

const FLAG_SHORT_NAMES: ReadonlyArray<readonly [number, string]> = [
  [ResponseFlag.FailedLocalHealthCheck, 'LH'],
  [ResponseFlag.NoHealthyUpstream, 'UH'],
  [ResponseFlag.UpstreamRequestTimeout, 'UT'],
  [ResponseFlag.LocalReset, 'LR'],
  [ResponseFlag.UpstreamRemoteReset, 'UR'],
  [ResponseFlag.UpstreamConnectionFailure, 'UF'],
  [ResponseFlag.UpstreamConnectionTermination, 'UC'],
  [ResponseFlag.UpstreamOverflow, 'UO'],
  [ResponseFlag.NoRouteFound, 'NR'],
  [ResponseFlag.DelayInjected, 'DI'],
  [ResponseFlag.FaultInjected, 'FI'],
  [ResponseFlag.RateLimited, 'RL'],
  [ResponseFlag.DownstreamConnectionTermination, 'DC'],
  [ResponseFlag.UpstreamRetryLimitExceeded, 'URX'],
  [ResponseFlag.StreamIdleTimeout, 'SI'],
  [ResponseFlag.DownstreamProtocolError, 'DPE'],
  [ResponseFlag.UpstreamProtocolError, 'UPE'],
  [ResponseFlag.NoClusterFound, 'NC'],
  [ResponseFlag.DurationTimeout, 'DT'],
  [ResponseFlag.DnsResolutionFailed, 'DF'],
  [ResponseFlag.UnauthorizedExternalService, 'UAEX'],
  [ResponseFlag.RbacAccessDenied, 'RBAC'],
];

/** `%RESPONSE_FLAGS%`: short names joined by commas, `-` when none. */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return '-';
  let out = '';
  for (const [bit, name] of FLAG_SHORT_NAMES) {
    if ((flags & bit) !== 0) out = out === '' ? name : `${out},${name}`;
  }
  return out;
}

export type HttpProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

/** Tracing, Envoy's Tracing::Span reduced to what the core calls. */
export interface Span {
  /**
   * A CLIENT child span, one per upstream attempt, where the tracer makes one (or always, when
   * `force`: the router's `start_child_span`); else the stream's span itself.
   */
  spawnChild(operationName: string, startTimeMs: number, force?: boolean): Span;
  /** Writes the propagation headers (B3, W3C...) into an outgoing request. */
  injectContext(headers: HeaderMap): void;
  setTag(name: string, value: string): void;
  /** Ends the span; tracers read the final facts (status, flags, sizes) from `info`. */
  finishSpan(info: StreamInfo, attempt: UpstreamAttemptInfo | null): void;
}

/** What is known about one upstream try (Envoy: one UpstreamRequest per attempt). */
export interface UpstreamAttemptInfo {
  /** 1 for the first try. */
  readonly attempt: number;
  readonly cluster: string;
  /** `ip:port`, null until a host was picked. */
  upstreamHost: string | null;
  readonly startTimeMs: number;
  /** 0 until upstream response headers arrived. */
  responseCode: number;
  /** Response flags caused by this attempt (UF, UC, UT...). */
  responseFlags: number;
}

export class StreamInfo {
  /** Epoch milliseconds when the first request byte was seen. */
  readonly startTime: number;
  /** The monotonic time (performance.now(), or its read's: readTime) at start, for durations. */
  readonly startMonotonic: number;
  /**
   * The client's address as Envoy determines it: the connection peer, or an x-forwarded-for
   * entry when use_remote_address/xff_num_trusted_hops say so (%DOWNSTREAM_REMOTE_ADDRESS%).
   */
  downstreamRemoteAddress: string;
  readonly downstreamRemotePort: number;
  /** The TCP peer (%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%). */
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly downstreamLocalPort: number;
  readonly listenerName: string;
  protocol: HttpProtocol = 'HTTP/1.1';
  /** The protocol of the upstream whose response headers were forwarded; null for a local reply. */
  upstreamProtocol: HttpProtocol | null = null;
  /** False for a stream that carries no HTTP (a tcp_proxy connection): `%PROTOCOL%` prints `-`. */
  hasHttpProtocol = true;
  /** Why the proxy closed the connection (`%CONNECTION_TERMINATION_DETAILS%`), null when it did not. */
  connectionTerminationDetails: string | null = null;
  /** Why the downstream transport (TLS handshake, peer verification) failed; null when it did not. */
  downstreamTransportFailureReason: string | null = null;
  /** Why the last upstream connection's transport failed (UF over TLS); null when none did. */
  upstreamTransportFailureReason: string | null = null;
  requestHeaders: HeaderMap | null = null;
  responseHeaders: HeaderMap | null = null;
  /** The request's trailers (HTTP/2), which the router forwards where the upstream takes them. */
  requestTrailers: HeaderMap | null = null;
  /** The response's trailers as the router produced them (gRPC's status lives there). */
  responseTrailers: HeaderMap | null = null;
  /** 0 until a response (upstream or local) started. */
  responseCode = 0;
  /** Envoy's response code details, e.g. `via_upstream`, `route_not_found`. */
  responseCodeDetails = '';
  responseFlags = 0;
  /** Request body bytes received from downstream. */
  bytesReceived = 0;
  /** Response body bytes sent downstream. */
  bytesSent = 0;
  /** Milliseconds from start until the last response byte was written; -1 while running. */
  durationMs = -1;
  /** Milliseconds from start until the first upstream response byte; -1 if none. */
  upstreamFirstByteMs = -1;
  upstreamHost: string | null = null;
  upstreamCluster: string | null = null;
  virtualHostName: string | null = null;
  routeName: string | null = null;
  requestId: string | null = null;
  /** Number of upstream tries made (Envoy's `%UPSTREAM_REQUEST_ATTEMPT_COUNT%`). */
  attemptCount = 0;
  /** The downstream connection's TLS facts (peer identity...); null over raw TCP. */
  downstreamSsl: SslConnectionInfo | null = null;
  /** The upstream connection's TLS facts once one carried the request; null over raw TCP. */
  upstreamSsl: SslConnectionInfo | null = null;
  /** The stream's SERVER span when a tracer sampled it. */
  activeSpan: Span | null = null;
  #filterState: Map<string, unknown> | null = null;

  constructor(
    listenerName: string,
    remoteAddress: string,
    remotePort: number,
    localAddress: string,
    localPort: number,
  ) {
    this.startTime = Date.now();
    this.startMonotonic = readTime();
    this.listenerName = listenerName;
    this.downstreamRemoteAddress = remoteAddress;
    this.downstreamDirectRemoteAddress = remoteAddress;
    this.downstreamRemotePort = remotePort;
    this.downstreamLocalAddress = localAddress;
    this.downstreamLocalPort = localPort;
  }

  /** Free slots for extensions (Envoy's filter state), keyed by extension name; created on first use. */
  get filterState(): Map<string, unknown> {
    return (this.#filterState ??= new Map());
  }

  setResponseFlag(flag: number): void {
    this.responseFlags |= flag;
  }

  hasResponseFlag(flag: number): boolean {
    return (this.responseFlags & flag) !== 0;
  }

  /** Milliseconds since the stream started. */
  elapsedMs(): number {
    return readTime() - this.startMonotonic;
  }
}

/** What a connection-level StreamInfo is made from: the accepted socket's addresses. */
interface ConnectionAddressSource {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  /** A TransportSocket's TLS facts. */
  readonly ssl?: SslConnectionInfo | null;
}

const connectionInfos = new WeakMap<ConnectionAddressSource, StreamInfo>();

/**
 * The StreamInfo of a whole downstream connection (Envoy's connection StreamInfo), shared by the
 * network filters of its chain: tcp_proxy fills in the upstream side and the flags, istio.stats
 * reads them. Created by the first filter that asks; keyed by the connection's TransportSocket.
 */
export function connectionStreamInfo(socket: ConnectionAddressSource, listenerName: string): StreamInfo {
  let info = connectionInfos.get(socket);
  if (info === undefined) {
    info = new StreamInfo(
      listenerName,
      socket.remoteAddress ?? '',
      socket.remotePort ?? 0,
      socket.localAddress ?? '',
      socket.localPort ?? 0,
    );
    info.hasHttpProtocol = false;
    info.downstreamSsl = socket.ssl ?? null;
    connectionInfos.set(socket, info);
  }
  return info;
}
