// Trace-context propagation: W3C `traceparent`/`tracestate`, B3 single (`b3`) and B3 multi
// (`x-b3-*`). Hand-written parsers over char codes: this runs on every request, so no regex,
// no split, and one small result object per request.
//
// Rules (issue 3, Envoy, W3C Trace Context, B3):
// - precedence when several are present: W3C, then B3 single, then B3 multi; an invalid
//   header is ignored and the next format is tried; nothing valid starts a new trace;
// - a sampling decision carried without ids (`b3: 0`, `x-b3-sampled: 1`) is still honoured;
// - `tracestate` is kept only with a valid `traceparent`, and dropped whole when any member
//   is invalid or there are more than 32 members; keys follow Trace Context Level 2 (`@`
//   anywhere after the first character, 256 characters at most) and a repeated key keeps its
//   first member, which Level 2 allows (W3C's test suite, strict);
// - ids are re-encoded lower case on the way out, so garbage is never forwarded.

/** Bit flags of the propagation formats. */
export const TraceFormat = { W3C: 1, B3Single: 2, B3Multi: 4 } as const;

/** The part of a header map the propagators need; the core's HeaderMap satisfies it. */
export interface TraceHeaders {
  get(name: string): string | undefined;
  getAll(name: string): readonly string[];
  set(name: string, value: string): void;
  remove(name: string): number;
  /**
   * The names in order and an append, when the map has them (the core's HeaderMap does): one
   * pass over the names then tells a request that carries no propagation header at all, the
   * usual case at the edge of a trace, instead of a full lookup per header read or replaced.
   */
  readonly names?: readonly string[];
  add?(name: string, value: string): void;
  /** The HTTP/1 text of the headers appended from index `from` on, when the map can keep it. */
  setTrailingLines?(from: number, lines: string): void;
}

export interface IncomingTraceContext {
  /** 32 lower-case hex digits, '' when no valid context arrived (start a new trace). */
  traceId: string;
  /** The caller's span id (our span's parent), '' when none. */
  parentSpanId: string;
  /** The caller's decision; null when none was made (sample by policy). */
  sampled: boolean | null;
  /** B3 debug (`d` / `x-b3-flags: 1`): sampled and must stay so. */
  debug: boolean;
  /** Validated, re-serialized `tracestate`; '' when absent or discarded. */
  traceState: string;
  /** The format the context (or decision) came from, 0 when none. */
  format: number;
  /** Every format whose headers appeared in the request, valid or not (to overwrite them). */
  presentFormats: number;
}

export interface OutgoingTraceContext {
  traceId: string;
  spanId: string;
  /** The parent of `spanId`, '' for a root span. */
  parentSpanId: string;
  sampled: boolean;
  debug: boolean;
  traceState: string;
}

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const B3 = 'b3';
const X_B3_TRACE_ID = 'x-b3-traceid';
const X_B3_SPAN_ID = 'x-b3-spanid';
const X_B3_PARENT_SPAN_ID = 'x-b3-parentspanid';
const X_B3_SAMPLED = 'x-b3-sampled';
const X_B3_FLAGS = 'x-b3-flags';

/** Every header name the propagators read or write, e.g. to strip them. */
export const TRACE_HEADER_NAMES: readonly string[] = [
  TRACEPARENT,
  TRACESTATE,
  B3,
  X_B3_TRACE_ID,
  X_B3_SPAN_ID,
  X_B3_PARENT_SPAN_ID,
  X_B3_SAMPLED,
  X_B3_FLAGS,
];

const TRACE_HEADER_SET: ReadonlySet<string> = new Set(TRACE_HEADER_NAMES);

/**
 * Whether some header is one the propagators read or write: a char or two per name, and a set
 * lookup only for names that start as one of them does (t..., b..., x-b...).
 */
function hasTraceHeader(names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    const c = n.charCodeAt(0);
    if ((c === 0x74 || c === 0x62 || (c === 0x78 && n.charCodeAt(2) === 0x62)) && TRACE_HEADER_SET.has(n)) return true;
  }
  return false;
}

type AppendableTraceHeaders = TraceHeaders & Required<Pick<TraceHeaders, 'names' | 'add'>>;

/** A map that lists its names and can append, with no propagation header among them. */
function withoutTraceHeaders(headers: TraceHeaders): headers is AppendableTraceHeaders {
  return headers.names !== undefined && headers.add !== undefined && !hasTraceHeader(headers.names);
}

const ZERO_PAD = '00000000000000000000000000000000';

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Lower-case hex in [start, end) and not all zeros. */
function isLowerHexId(s: string, start: number, end: number): boolean {
  let nonZero = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (c !== 0x30) nonZero = true;
    } else if (c >= 0x61 && c <= 0x66) {
      nonZero = true;
    } else {
      return false;
    }
  }
  return nonZero;
}

function isLowerHex(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Any-case hex, not all zeros (B3 multi ids, as @opentelemetry/propagator-b3 accepts them). */
function isAnyCaseHexId(s: string): boolean {
  if (s.length === 0) return false;
  let nonZero = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (c !== 0x30) nonZero = true;
    } else if ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)) {
      nonZero = true;
    } else {
      return false;
    }
  }
  return nonZero;
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

function newContext(): IncomingTraceContext {
  return { traceId: '', parentSpanId: '', sampled: null, debug: false, traceState: '', format: 0, presentFormats: 0 };
}

/**
 * What a request with no propagation header carries: nothing. Shared, as most requests at a
 * mesh's edge and every request of a client that does not trace are such requests, and a
 * context per request was garbage the tracer only read (frozen: no caller writes to it).
 */
const NO_CONTEXT: IncomingTraceContext = Object.freeze(newContext());

// W3C ------------------------------------------------------------------------------------

/** Parses one `traceparent` value into `ctx`; false when invalid. */
function parseTraceparent(raw: string, ctx: IncomingTraceContext): boolean {
  const v = trimOws(raw);
  if (v.length < 55) return false;
  if (!isLowerHex(v, 0, 2) || (v.charCodeAt(0) === 0x66 && v.charCodeAt(1) === 0x66)) return false;
  const version00 = v.charCodeAt(0) === 0x30 && v.charCodeAt(1) === 0x30;
  if (version00 ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 0x2d) return false;
  if (v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d || v.charCodeAt(52) !== 0x2d) return false;
  if (!isLowerHexId(v, 3, 35) || !isLowerHexId(v, 36, 52) || !isLowerHex(v, 53, 55)) return false;
  ctx.traceId = v.slice(3, 35);
  ctx.parentSpanId = v.slice(36, 52);
  ctx.sampled = (hexValue(v.charCodeAt(54)) & 1) === 1;
  return true;
}

function isLcAlphaOrDigit(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
}

function isKeyChar(c: number): boolean {
  // lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
  return isLcAlphaOrDigit(c) || c === 0x5f || c === 0x2d || c === 0x2a || c === 0x2f || c === 0x40;
}

/** Trace Context Level 2 key: `( lcalpha / DIGIT ) 0*255 ( keychar )`. */
function isValidKey(s: string, start: number, end: number): boolean {
  const len = end - start;
  if (len === 0 || len > 256 || !isLcAlphaOrDigit(s.charCodeAt(start))) return false;
  for (let i = start + 1; i < end; i++) if (!isKeyChar(s.charCodeAt(i))) return false;
  return true;
}

/** W3C tracestate value: 1–256 printable ASCII chars except ',' and '=', not ending in a space. */
function isValidValue(s: string, start: number, end: number): boolean {
  const len = end - start;
  if (len === 0 || len > 256) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2c || c === 0x3d) return false;
  }
  return s.charCodeAt(end - 1) !== 0x20;
}

const MAX_TRACESTATE_MEMBERS = 32;

/**
 * Combines every `tracestate` header and validates it; returns the serialized list, or ''
 * when it must be discarded.
 */
export function parseTraceState(values: readonly string[]): string {
  let out = '';
  let count = 0;
  const keys: string[] = [];
  for (const value of values) {
    let pos = 0;
    while (pos <= value.length) {
      let comma = value.indexOf(',', pos);
      if (comma === -1) comma = value.length;
      let start = pos;
      let end = comma;
      while (start < end && isOws(value.charCodeAt(start))) start++;
      while (end > start && isOws(value.charCodeAt(end - 1))) end--;
      pos = comma + 1;
      if (start === end) continue; // empty list members are allowed and skipped
      const eq = value.indexOf('=', start);
      if (eq === -1 || eq >= end) return '';
      if (!isValidKey(value, start, eq) || !isValidValue(value, eq + 1, end)) return '';
      const key = value.slice(start, eq);
      if (keys.includes(key)) continue; // a repeated key: the first member stays
      keys.push(key);
      if (++count > MAX_TRACESTATE_MEMBERS) return '';
      const member = value.slice(start, end);
      out = out === '' ? member : `${out},${member}`;
    }
  }
  return out;
}

// B3 -------------------------------------------------------------------------------------

/** Parses a `b3` value into `ctx`; false when invalid. */
function parseB3Single(raw: string, ctx: IncomingTraceContext): boolean {
  const v = trimOws(raw);
  if (v.length === 1) {
    // Sampling decision only: `0`, `1` or `d`.
    const c = v.charCodeAt(0);
    if (c === 0x30) ctx.sampled = false;
    else if (c === 0x31) ctx.sampled = true;
    else if (c === 0x64) {
      ctx.sampled = true;
      ctx.debug = true;
    } else return false;
    return true;
  }
  const dash1 = v.indexOf('-');
  if (dash1 !== 16 && dash1 !== 32) return false;
  if (!isLowerHex(v, 0, dash1)) return false;
  const spanEnd = dash1 + 17;
  if (v.length < spanEnd || !isLowerHexId(v, dash1 + 1, spanEnd)) return false;
  const traceId = dash1 === 16 ? ZERO_PAD.slice(16) + v.slice(0, 16) : v.slice(0, 32);
  if (!isLowerHexId(traceId, 0, 32)) return false;
  let sampled: boolean | null = null;
  let debug = false;
  let pos = spanEnd;
  if (pos < v.length) {
    if (v.charCodeAt(pos) !== 0x2d) return false;
    pos++;
    const rest = v.length - pos;
    if (rest === 1 || (rest > 1 && v.charCodeAt(pos + 1) === 0x2d)) {
      const c = v.charCodeAt(pos);
      if (c === 0x30) sampled = false;
      else if (c === 0x31) sampled = true;
      else if (c === 0x64) {
        sampled = true;
        debug = true;
      } else return false;
      pos += rest === 1 ? 1 : 2;
    }
    if (pos < v.length) {
      // The parent span id is informational; it must be well-formed but is not used.
      if (v.length - pos !== 16 || !isLowerHex(v, pos, v.length)) return false;
    }
  }
  ctx.traceId = traceId;
  ctx.parentSpanId = v.slice(dash1 + 1, spanEnd);
  ctx.sampled = sampled;
  ctx.debug = debug;
  return true;
}

function parseB3Sampled(v: string | undefined): boolean | null | undefined {
  if (v === undefined) return null;
  const t = trimOws(v);
  if (t === '1' || t === 'true' || t === 'True') return true;
  if (t === '0' || t === 'false' || t === 'False') return false;
  return undefined; // invalid
}

/** Parses the `x-b3-*` headers into `ctx`; false when invalid or absent. */
function parseB3Multi(headers: TraceHeaders, ctx: IncomingTraceContext): boolean {
  const debug = headers.get(X_B3_FLAGS) === '1';
  const sampled = parseB3Sampled(headers.get(X_B3_SAMPLED));
  if (sampled === undefined && !debug) return false;
  const rawTrace = headers.get(X_B3_TRACE_ID);
  const rawSpan = headers.get(X_B3_SPAN_ID);
  if (rawTrace === undefined && rawSpan === undefined) {
    if (!debug && sampled === null) return false;
    ctx.sampled = debug ? true : (sampled ?? null);
    ctx.debug = debug;
    return true;
  }
  if (rawTrace === undefined || rawSpan === undefined) return false;
  const t = trimOws(rawTrace);
  const s = trimOws(rawSpan);
  if (t.length > 32 || !isAnyCaseHexId(t) || s.length !== 16 || !isAnyCaseHexId(s)) return false;
  ctx.traceId = (t.length === 32 ? t : ZERO_PAD.slice(t.length) + t).toLowerCase();
  ctx.parentSpanId = s.toLowerCase();
  ctx.sampled = debug ? true : (sampled ?? null);
  ctx.debug = debug;
  return true;
}

function carriesB3Debug(headers: TraceHeaders, b3: readonly string[], traceId: string): boolean {
  if (b3.length === 1) {
    const probe = newContext();
    if (parseB3Single(b3[0]!, probe) && probe.debug && (probe.traceId === '' || probe.traceId === traceId)) return true;
  }
  if (headers.get(X_B3_FLAGS) === '1') {
    const t = headers.get(X_B3_TRACE_ID);
    return t === undefined || (t.length === 32 ? t : ZERO_PAD.slice(t.length) + t).toLowerCase() === traceId;
  }
  return false;
}

/** Reads whichever trace context the request carries, by precedence W3C > B3 single > B3 multi. */
export function extractTraceContext(headers: TraceHeaders): IncomingTraceContext {
  if (headers.names !== undefined && !hasTraceHeader(headers.names)) return NO_CONTEXT;
  const ctx = newContext();
  const traceparents = headers.getAll(TRACEPARENT);
  const b3 = headers.getAll(B3);
  const hasMulti =
    headers.get(X_B3_TRACE_ID) !== undefined ||
    headers.get(X_B3_SAMPLED) !== undefined ||
    headers.get(X_B3_FLAGS) !== undefined;
  if (traceparents.length > 0 || headers.get(TRACESTATE) !== undefined) ctx.presentFormats |= TraceFormat.W3C;
  if (b3.length > 0) ctx.presentFormats |= TraceFormat.B3Single;
  if (hasMulti) ctx.presentFormats |= TraceFormat.B3Multi;

  // Two traceparent headers are ambiguous: W3C says start over.
  if (traceparents.length === 1 && parseTraceparent(traceparents[0]!, ctx)) {
    ctx.format = TraceFormat.W3C;
    ctx.traceState = parseTraceState(headers.getAll(TRACESTATE));
    // W3C has no debug flag: keep B3's when it rides along for the same sampled trace.
    if (ctx.sampled === true && (b3.length > 0 || hasMulti)) ctx.debug = carriesB3Debug(headers, b3, ctx.traceId);
    return ctx;
  }
  if (b3.length === 1 && parseB3Single(b3[0]!, ctx)) {
    ctx.format = TraceFormat.B3Single;
    return ctx;
  }
  const fallback = newContext();
  fallback.presentFormats = ctx.presentFormats;
  if (hasMulti && parseB3Multi(headers, fallback)) {
    fallback.format = TraceFormat.B3Multi;
    return fallback;
  }
  return fallback;
}

/** Writes the context in every format of `formats` (bit flags of TraceFormat). */
export function injectTraceContext(headers: TraceHeaders, ctx: OutgoingTraceContext, formats: number): void {
  if (withoutTraceHeaders(headers)) return addTraceContext(headers, ctx, formats);
  if ((formats & TraceFormat.W3C) !== 0) {
    headers.set(TRACEPARENT, `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`);
    if (ctx.traceState === '') headers.remove(TRACESTATE);
    else headers.set(TRACESTATE, ctx.traceState);
  }
  if ((formats & TraceFormat.B3Single) !== 0) {
    const state = ctx.debug ? 'd' : ctx.sampled ? '1' : '0';
    headers.set(
      B3,
      ctx.parentSpanId === ''
        ? `${ctx.traceId}-${ctx.spanId}-${state}`
        : `${ctx.traceId}-${ctx.spanId}-${state}-${ctx.parentSpanId}`,
    );
  }
  if ((formats & TraceFormat.B3Multi) !== 0) {
    headers.set(X_B3_TRACE_ID, ctx.traceId);
    headers.set(X_B3_SPAN_ID, ctx.spanId);
    if (ctx.parentSpanId === '') headers.remove(X_B3_PARENT_SPAN_ID);
    else headers.set(X_B3_PARENT_SPAN_ID, ctx.parentSpanId);
    if (ctx.debug) {
      // B3: debug implies sampled, and X-B3-Sampled is not sent alongside it.
      headers.set(X_B3_FLAGS, '1');
      headers.remove(X_B3_SAMPLED);
    } else {
      headers.set(X_B3_SAMPLED, ctx.sampled ? '1' : '0');
      headers.remove(X_B3_FLAGS);
    }
  }
}

/**
 * injectTraceContext for a map with no propagation header: the same headers in the same order,
 * appended (set would look each up first, and remove would look for each it drops), and their
 * HTTP/1 text beside them, each line one literal and one value, for the HTTP/1 encoder to write
 * as it is rather than join name, separator, value and line end per header again.
 */
function addTraceContext(headers: AppendableTraceHeaders, ctx: OutgoingTraceContext, formats: number): void {
  const from = headers.names.length;
  let lines = '';
  if ((formats & TraceFormat.W3C) !== 0) {
    const traceparent = `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
    headers.add(TRACEPARENT, traceparent);
    lines = `traceparent: ${traceparent}\r\n`;
    if (ctx.traceState !== '') {
      headers.add(TRACESTATE, ctx.traceState);
      lines += `tracestate: ${ctx.traceState}\r\n`;
    }
  }
  if ((formats & TraceFormat.B3Single) !== 0) {
    const state = ctx.debug ? 'd' : ctx.sampled ? '1' : '0';
    const b3 =
      ctx.parentSpanId === ''
        ? `${ctx.traceId}-${ctx.spanId}-${state}`
        : `${ctx.traceId}-${ctx.spanId}-${state}-${ctx.parentSpanId}`;
    headers.add(B3, b3);
    lines += `b3: ${b3}\r\n`;
  }
  if ((formats & TraceFormat.B3Multi) !== 0) {
    headers.add(X_B3_TRACE_ID, ctx.traceId);
    headers.add(X_B3_SPAN_ID, ctx.spanId);
    lines += `x-b3-traceid: ${ctx.traceId}\r\nx-b3-spanid: ${ctx.spanId}\r\n`;
    if (ctx.parentSpanId !== '') {
      headers.add(X_B3_PARENT_SPAN_ID, ctx.parentSpanId);
      lines += `x-b3-parentspanid: ${ctx.parentSpanId}\r\n`;
    }
    if (ctx.debug) {
      headers.add(X_B3_FLAGS, '1');
      lines += 'x-b3-flags: 1\r\n';
    } else {
      const sampled = ctx.sampled ? '1' : '0';
      headers.add(X_B3_SAMPLED, sampled);
      lines += ctx.sampled ? 'x-b3-sampled: 1\r\n' : 'x-b3-sampled: 0\r\n';
    }
  }
  headers.setTrailingLines?.(from, lines);
}

/** Removes every propagation header (e.g. before a request leaves the mesh untraced). */
export function removeTraceHeaders(headers: TraceHeaders): void {
  for (const name of TRACE_HEADER_NAMES) headers.remove(name);
}
