// What a hostile HTTP/2 client may not do to the proxy, and the counters that say it tried
// (Envoy's Http2::ProtocolConstraints and the connection manager's premature-reset check).
// nghttp2 (under node:http2) already stops most floods itself and reports them as a session
// error whose errno names the cause; this file maps each to Envoy's counter, and adds the two
// limits nghttp2 does not keep: PRIORITY frames per stream and streams the client resets
// before their response (CVE-2023-44487, "rapid reset").
import type { Counter, Scope } from '../../../../stats/types.js';

/** nghttp2's fatal error codes (nghttp2.h) as node:http2 reports them on a session error's errno. */
export const NGHTTP2_ERR_FLOODED = -904;
export const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;
export const NGHTTP2_ERR_BAD_CLIENT_MAGIC = -903;

/**
 * Envoy's runtime defaults for premature resets (overload.premature_reset_total_stream_count and
 * overload.premature_reset_min_stream_lifetime_seconds): a stream the client resets within a
 * second of opening, before its response ended, is premature; once they are half of 500 streams
 * (or of all the connection's streams past 500) the connection is closed.
 */
export const PREMATURE_RESET_TOTAL_STREAM_COUNT = 500;
export const PREMATURE_RESET_MIN_STREAM_LIFETIME_MS = 1000;

/** Envoy's `http2.*` codec stats (rooted at `http2.`, as Envoy's downstream codec stats are). */
export class Http2CodecStats {
  readonly rx_reset: Counter;
  readonly tx_reset: Counter;
  readonly header_overflow: Counter;
  readonly rx_messaging_error: Counter;
  readonly goaway_sent: Counter;
  readonly outbound_flood: Counter;
  readonly outbound_control_flood: Counter;
  readonly inbound_empty_frames_flood: Counter;
  readonly inbound_priority_frames_flood: Counter;
  /** The connection manager's counter (`http.<stat_prefix>.`) for connections closed by the rapid-reset check. */
  readonly downstream_rq_too_many_premature_resets: Counter;

  constructor(root: Scope, hcm: Scope) {
    const s = root.scope('http2');
    this.rx_reset = s.counter('rx_reset');
    this.tx_reset = s.counter('tx_reset');
    this.header_overflow = s.counter('header_overflow');
    this.rx_messaging_error = s.counter('rx_messaging_error');
    this.goaway_sent = s.counter('goaway_sent');
    this.outbound_flood = s.counter('outbound_flood');
    this.outbound_control_flood = s.counter('outbound_control_flood');
    this.inbound_empty_frames_flood = s.counter('inbound_empty_frames_flood');
    this.inbound_priority_frames_flood = s.counter('inbound_priority_frames_flood');
    this.downstream_rq_too_many_premature_resets = hcm.counter('downstream_rq_too_many_premature_resets');
  }
}

/** Why a connection must close, as Envoy's response code details name it. */
export type FloodCause =
  | 'http2.outbound_control_flood'
  | 'http2.inbound_empty_frames_flood'
  | 'http2.inbound_priority_frames_flood'
  | 'http2.header_overflow'
  | 'http2.too_many_premature_resets';

/**
 * Maps a node:http2 session error to the counter it bumps; returns the flood it was, or null for
 * another protocol error (nghttp2 already answered it with GOAWAY).
 */
export function classifySessionError(err: NodeJS.ErrnoException, stats: Http2CodecStats): FloodCause | null {
  if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') {
    // node:http2 counts DATA frames without payload or END_STREAM (and frames nghttp2 found
    // invalid) against maxSessionInvalidFrames, which is max_consecutive_inbound_frames_with_empty_payload.
    stats.inbound_empty_frames_flood.inc();
    return 'http2.inbound_empty_frames_flood';
  }
  if (err.errno === NGHTTP2_ERR_FLOODED) {
    // More than 1000 ACKs (SETTINGS, PING) queued for a peer that does not read (CVE-2019-9512/9515).
    stats.outbound_control_flood.inc();
    return 'http2.outbound_control_flood';
  }
  if (err.errno === NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
    // A header block spread over endless CONTINUATION frames (CVE-2024-27316).
    stats.header_overflow.inc();
    return 'http2.header_overflow';
  }
  stats.rx_messaging_error.inc();
  return null;
}

/**
 * One connection's counts: PRIORITY frames against max_inbound_priority_frames_per_stream × (1 +
 * streams opened), as Envoy bounds them, and premature resets against the streams closed.
 */
export class ProtocolConstraints {
  readonly #maxPriorityPerStream: number;
  #streamsOpened = 0;
  #priorityFrames = 0;
  #streamsClosed = 0;
  #prematureResets = 0;

  constructor(maxInboundPriorityFramesPerStream: number) {
    this.#maxPriorityPerStream = maxInboundPriorityFramesPerStream;
  }

  onStreamOpened(): void {
    this.#streamsOpened++;
  }

  /** A PRIORITY frame arrived; true once they are a flood. */
  onPriorityFrame(): boolean {
    return ++this.#priorityFrames > this.#maxPriorityPerStream * (1 + this.#streamsOpened);
  }

  /** A stream closed; true once premature resets say the connection is an attack. */
  onStreamClosed(premature: boolean): boolean {
    this.#streamsClosed++;
    if (premature) this.#prematureResets++;
    if (this.#prematureResets === 0) return false;
    // Below the total, close as soon as the rest of the streams could not bring resets under half.
    const base = Math.max(this.#streamsClosed, PREMATURE_RESET_TOTAL_STREAM_COUNT);
    return this.#prematureResets * 2 >= base;
  }
}
