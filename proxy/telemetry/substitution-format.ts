// Envoy's substitution format strings (`%REQ(:METHOD)%`, `%START_TIME(%s)%`, ...), compiled
// once at config time into a list of field writers; per stream the logger only calls them.
// Missing values print `-` in text formats and `null` in JSON, numbers stay numbers in JSON
// (as Envoy's typed JSON output does).
// A formatter runs whole on one thread (format/formatInto), or split across two: the request
// thread records each operator's raw value per stream (recordInto, stream-record.ts) and the
// access-log thread prints the line from the record (formatRecordInto). Operators whose printed
// form is derived (a date from the start time, flag letters from the bitmask, a gRPC status name
// from its code) record the raw input and print it on the thread, so the request thread formats
// nothing.
import { formatResponseFlags, type StreamInfo } from '../core/stream-info.js';
import type { ProtoWriter } from './proto-writer.js';
import { writeRecordValue, writeUintDigits, type RecordReader, type RecordValue } from './stream-record.js';
import { ProxyError } from '../errors.js';
import { formatGrpcStatus, isGrpcRequest, streamGrpcStatus } from '../core/grpc/common.js';

/** A compiled operator: returns the value, or null when not available. */
export type FieldWriter = (info: StreamInfo) => string | number | null;

export type FormatPart = string | FieldWriter;

/** How an operator's raw value becomes the printed one (null: printed as missing). */
type Render = (v: string | number) => RecordValue;

/**
 * Render's printed text as UTF-8 straight into `out`, for the operators printed on every line:
 * printable ASCII without a quote or backslash, so JSON prints it between quotes as it is.
 */
type Print = (v: string | number, out: ProtoWriter) => void;

/**
 * The two stages of an operator whose printed value is derived: `extract` (request thread) and
 * `render` (wherever the line is printed). The whole writer composes them.
 */
const stages = new WeakMap<
  FieldWriter,
  { readonly extract: FieldWriter; readonly render: Render; readonly print: Print | null }
>();

function staged(extract: FieldWriter, render: Render, print: Print | null = null): FieldWriter {
  const whole: FieldWriter = (info) => {
    const v = extract(info);
    return v === null ? null : render(v);
  };
  stages.set(whole, { extract, render, print });
  return whole;
}

/** What prints an operator's recorded value as bytes (null: render, then write). */
function printerOf(w: FieldWriter): Print | null {
  return stages.get(w)?.print ?? null;
}

/** What the request thread records for an operator. */
function extractorOf(w: FieldWriter): FieldWriter {
  return stages.get(w)?.extract ?? w;
}

/** What prints an operator's recorded value (null: printed as recorded). */
function renderOf(w: FieldWriter): Render | null {
  return stages.get(w)?.render ?? null;
}

function renderValue(v: RecordValue, render: Render | null): RecordValue {
  return v === null || render === null ? v : render(v);
}

export class FormatError extends ProxyError {
  constructor(message: string) {
    super('MS_ERR_ACCESS_LOG_FORMAT', message);
  }
}

/** Envoy's default access log format. */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** Reads the trace id of the stream's span, when the tracer exposes one. */
export type TraceIdReader = (info: StreamInfo) => string | null;

let traceIdReader: TraceIdReader = () => null;

/** The tracing component installs how `%TRACE_ID%` reads a span's trace id. */
export function setTraceIdReader(reader: TraceIdReader): void {
  traceIdReader = reader;
}

// START_TIME ------------------------------------------------------------------------------

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

// Streams starting in the same millisecond share the formatted time (Envoy caches it too).
let lastStartMs = -1;
let lastStartIso = '';

/** Envoy's default START_TIME: ISO 8601 UTC with milliseconds. */
function isoStart(startTime: number): string {
  if (startTime !== lastStartMs) {
    lastStartMs = startTime;
    lastStartIso = new Date(startTime).toISOString();
  }
  return lastStartIso;
}

// The access-log thread prints the time from the second's formatted prefix (`YYYY-MM-DDTHH:MM:SS.`),
// kept as bytes, and the milliseconds: no Date, no string per line.
let isoSecond = Number.NaN;
let isoPrefix: Uint8Array = new Uint8Array(0);

/** isoStart's text as UTF-8 into `out`. */
function isoStartInto(startTime: number, out: ProtoWriter): void {
  // As Date does: whole milliseconds toward zero; out of its range, isoStart throws as before.
  const t = Math.trunc(startTime);
  if (!(Math.abs(t) <= 8.64e15)) return out.text(isoStart(startTime));
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString();
    isoPrefix = Buffer.from(iso.slice(0, iso.length - 4), 'latin1');
    isoSecond = second;
  }
  const prefix = isoPrefix;
  const n = prefix.length;
  out.ensure(n + 4);
  const b = out.buf;
  let p = out.pos;
  for (let i = 0; i < n; i++) b[p++] = prefix[i]!;
  const ms = t - second * 1000;
  const hundreds = (ms / 100) | 0;
  const tens = ((ms / 10) | 0) - hundreds * 10;
  b[p++] = 0x30 + hundreds;
  b[p++] = 0x30 + tens;
  b[p++] = 0x30 + ms - hundreds * 100 - tens * 10;
  b[p++] = 0x5a; // Z
  out.pos = p;
}

const startTimeOf: FieldWriter = (i) => i.startTime;

/** Compiles a strftime-style pattern (the subset Envoy users write) into a formatter. */
function compileTimeFormat(pattern: string): (ms: number) => string {
  const parts: Array<string | ((d: Date, ms: number) => string)> = [];
  let lit = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c !== '%' || i + 1 >= pattern.length) {
      lit += c;
      continue;
    }
    let spec = pattern[++i]!;
    let digits = 0;
    if (spec >= '1' && spec <= '9' && pattern[i + 1] === 'f') {
      digits = Number(spec);
      spec = pattern[++i]!;
    }
    let fn: ((d: Date, ms: number) => string) | null = null;
    switch (spec) {
      case 'Y':
        fn = (d) => String(d.getUTCFullYear());
        break;
      case 'm':
        fn = (d) => pad2(d.getUTCMonth() + 1);
        break;
      case 'd':
        fn = (d) => pad2(d.getUTCDate());
        break;
      case 'e':
        fn = (d) => String(d.getUTCDate()).padStart(2, ' ');
        break;
      case 'H':
        fn = (d) => pad2(d.getUTCHours());
        break;
      case 'M':
        fn = (d) => pad2(d.getUTCMinutes());
        break;
      case 'S':
        fn = (d) => pad2(d.getUTCSeconds());
        break;
      case 'j':
        fn = (d) => pad3(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1);
        break;
      case 'y':
        fn = (d) => pad2(d.getUTCFullYear() % 100);
        break;
      case 'z':
        fn = () => '+0000';
        break;
      case 'Z':
        fn = () => 'UTC';
        break;
      case 's':
        fn = (_d, ms) => String(Math.floor(ms / 1000));
        break;
      case 'F':
        fn = (d) => `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
        break;
      case 'T':
        fn = (d) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
        break;
      case 'f': {
        const n = digits === 0 ? 9 : digits;
        fn = (_d, ms) => {
          const nanos = String(Math.round((ms % 1000) * 1e6)).padStart(9, '0');
          return nanos.slice(0, n);
        };
        break;
      }
      case '%':
        fn = () => '%';
        break;
      default:
        throw new FormatError(`unsupported START_TIME specifier '%${spec}'`);
    }
    if (lit !== '') parts.push(lit);
    lit = '';
    parts.push(fn);
  }
  if (lit !== '') parts.push(lit);
  return (ms) => {
    const d = new Date(ms);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(d, ms);
    return out;
  };
}

// Operators -------------------------------------------------------------------------------

/**
 * V8's internalized copy of `name` (a property key is internalized). Header maps hold the
 * parser's and the proxy's internalized literals, and two internalized strings are equal only
 * when they are the same string, so HeaderMap#get compares pointers; a name made at config time
 * (a toLowerCase result) is compared character by character with every name of its length that
 * it meets (micro-benchmark: the default format's seven request-header reads over a map of ten
 * headers, 130-200 ns against 86-167 ns interned).
 */
function internalized(name: string): string {
  return Object.keys({ [name]: 0 })[0] ?? name;
}

function headerOperator(which: 'request' | 'response', arg: string, maxLen: number | null): FieldWriter {
  const [first, alt] = arg.split('?') as [string, string | undefined];
  const a = internalized(first.toLowerCase());
  const b = alt === undefined ? undefined : internalized(alt.toLowerCase());
  if (a === '' || b === '') throw new FormatError(`empty header name in '${arg}'`);
  return (info) => {
    const h = which === 'request' ? info.requestHeaders : info.responseHeaders;
    if (h === null) return null;
    let v = h.get(a);
    if (v === undefined && b !== undefined) v = h.get(b);
    if (v === undefined) return null;
    return maxLen !== null && v.length > maxLen ? v.slice(0, maxLen) : v;
  };
}

/**
 * `%GRPC_STATUS(CAMEL_STRING|SNAKE_STRING|NUMBER)%` (CAMEL_STRING by default; NUMBER is a number
 * in JSON) and `%GRPC_STATUS_NUMBER%`: the status of a gRPC request's response, from its
 * trailers, a trailers-only head, or its HTTP status mapped; `-` for a request that is not gRPC.
 */
function grpcStatusOperator(arg: string, whole: string): FieldWriter {
  const format = arg === '' ? 'CAMEL_STRING' : arg;
  if (format !== 'CAMEL_STRING' && format !== 'SNAKE_STRING' && format !== 'NUMBER')
    throw new FormatError(`'${whole}': GRPC_STATUS takes CAMEL_STRING, SNAKE_STRING or NUMBER`);
  const code: FieldWriter = (info) => {
    if (!isGrpcRequest(info.requestHeaders)) return null;
    const c = streamGrpcStatus(info);
    return c === -1 ? null : c;
  };
  return format === 'NUMBER' ? code : staged(code, (c) => formatGrpcStatus(c as number, format));
}

/** A filter state object that can be printed (Envoy's serializeAsString / serializeAsProto). */
interface SerializableFilterState {
  serializeAsString?(): string;
  serializeAsJson?(): unknown;
}

/**
 * `%FILTER_STATE(KEY)%` (the object's JSON form) and `%FILTER_STATE(KEY:PLAIN)%` (its string
 * form); `-` when absent or the object has no such form.
 */
function filterStateOperator(arg: string, whole: string): FieldWriter {
  const colon = arg.lastIndexOf(':');
  const mode = colon === -1 ? 'TYPED' : arg.slice(colon + 1);
  const key = colon === -1 ? arg : arg.slice(0, colon);
  if (mode !== 'PLAIN' && mode !== 'TYPED')
    throw new FormatError(`'${whole}': FILTER_STATE takes KEY, KEY:PLAIN or KEY:TYPED`);
  return (info) => {
    const v = info.filterState.get(key) as SerializableFilterState | undefined;
    if (v === undefined || v === null || typeof v !== 'object') return null;
    if (mode === 'PLAIN') return typeof v.serializeAsString === 'function' ? v.serializeAsString() : null;
    return typeof v.serializeAsJson === 'function' ? JSON.stringify(v.serializeAsJson()) : null;
  };
}

const orNull = <T>(v: T | null | undefined): T | null => (v === undefined ? null : v);

function simpleOperator(name: string): FieldWriter | null {
  switch (name) {
    case 'PROTOCOL':
      return (i) => (i.hasHttpProtocol ? i.protocol : null);
    case 'CONNECTION_TERMINATION_DETAILS':
      return (i) => i.connectionTerminationDetails;
    // Envoy writes spaces of the transport's text as underscores.
    case 'DOWNSTREAM_TRANSPORT_FAILURE_REASON':
      return (i) => i.downstreamTransportFailureReason?.replaceAll(' ', '_') ?? null;
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON':
      return (i) => i.upstreamTransportFailureReason?.replaceAll(' ', '_') ?? null;
    case 'RESPONSE_CODE':
      return (i) => i.responseCode;
    case 'RESPONSE_CODE_DETAILS':
      return (i) => (i.responseCodeDetails === '' ? null : i.responseCodeDetails);
    case 'RESPONSE_FLAGS':
      return staged(
        (i) => i.responseFlags,
        (f) => formatResponseFlags(f as number),
        printResponseFlags,
      );
    case 'BYTES_RECEIVED':
      return (i) => i.bytesReceived;
    case 'BYTES_SENT':
      return (i) => i.bytesSent;
    case 'DURATION':
      return (i) => (i.durationMs < 0 ? Math.floor(i.elapsedMs()) : Math.floor(i.durationMs));
    case 'RESPONSE_DURATION':
      return (i) => (i.upstreamFirstByteMs < 0 ? null : Math.floor(i.upstreamFirstByteMs));
    case 'UPSTREAM_HOST':
      return (i) => orNull(i.upstreamHost);
    case 'UPSTREAM_CLUSTER':
      return (i) => orNull(i.upstreamCluster);
    case 'UPSTREAM_REQUEST_ATTEMPT_COUNT':
      return (i) => i.attemptCount;
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (i) => `${i.downstreamRemoteAddress}:${i.downstreamRemotePort}`;
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (i) => i.downstreamRemoteAddress;
    case 'DOWNSTREAM_REMOTE_PORT':
      return (i) => i.downstreamRemotePort;
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return (i) => `${i.downstreamLocalAddress}:${i.downstreamLocalPort}`;
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (i) => i.downstreamLocalAddress;
    case 'DOWNSTREAM_LOCAL_PORT':
      return (i) => i.downstreamLocalPort;
    case 'ROUTE_NAME':
      return (i) => orNull(i.routeName);
    case 'VIRTUAL_HOST_NAME':
      return (i) => orNull(i.virtualHostName);
    case 'REQUEST_ID':
      return (i) => orNull(i.requestId);
    case 'TRACE_ID':
      return (i) => traceIdReader(i);
    case 'HOSTNAME': {
      const host = process.env['HOSTNAME'] ?? 'localhost';
      return () => host;
    }
    case 'START_TIME':
      return staged(
        startTimeOf,
        (ms) => isoStart(ms as number),
        (ms, out) => isoStartInto(ms as number, out),
      );
    default:
      return tlsOperator(name);
  }
}

/** Joined as Envoy prints a list (`a,b`), null (`-`) when empty or not TLS. */
const list = (v: readonly string[] | undefined): string | null =>
  v === undefined || v.length === 0 ? null : v.join(',');
const text = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** The TLS operators: `-` over raw TCP, read from the connection's SslConnectionInfo otherwise. */
function tlsOperator(name: string): FieldWriter | null {
  switch (name) {
    case 'DOWNSTREAM_PEER_URI_SAN':
      return (i) => list(i.downstreamSsl?.uriSanPeerCertificate);
    case 'DOWNSTREAM_LOCAL_URI_SAN':
      return (i) => list(i.downstreamSsl?.uriSanLocalCertificate);
    case 'DOWNSTREAM_PEER_DNS_SAN':
      return (i) => list(i.downstreamSsl?.dnsSansPeerCertificate);
    case 'DOWNSTREAM_LOCAL_DNS_SAN':
      return (i) => list(i.downstreamSsl?.dnsSansLocalCertificate);
    case 'DOWNSTREAM_PEER_SUBJECT':
      return (i) => text(i.downstreamSsl?.subjectPeerCertificate);
    case 'DOWNSTREAM_LOCAL_SUBJECT':
      return (i) => text(i.downstreamSsl?.subjectLocalCertificate);
    case 'DOWNSTREAM_PEER_ISSUER':
      return (i) => text(i.downstreamSsl?.issuerPeerCertificate);
    case 'DOWNSTREAM_PEER_SERIAL':
      return (i) => text(i.downstreamSsl?.serialNumberPeerCertificate);
    case 'DOWNSTREAM_PEER_FINGERPRINT_256':
      return (i) => text(i.downstreamSsl?.sha256PeerCertificateDigest);
    case 'DOWNSTREAM_PEER_CERT':
      return (i) => text(i.downstreamSsl?.urlEncodedPemEncodedPeerCertificate);
    case 'DOWNSTREAM_TLS_VERSION':
      return (i) => text(i.downstreamSsl?.tlsVersion);
    case 'DOWNSTREAM_TLS_CIPHER':
      return (i) => text(i.downstreamSsl?.ciphersuiteString);
    case 'REQUESTED_SERVER_NAME':
      return (i) => text(i.downstreamSsl?.sni);
    case 'UPSTREAM_TLS_VERSION':
      return (i) => text(i.upstreamSsl?.tlsVersion);
    case 'UPSTREAM_TLS_CIPHER':
      return (i) => text(i.upstreamSsl?.ciphersuiteString);
    case 'UPSTREAM_PEER_URI_SAN':
      return (i) => list(i.upstreamSsl?.uriSanPeerCertificate);
    case 'UPSTREAM_PEER_SUBJECT':
      return (i) => text(i.upstreamSsl?.subjectPeerCertificate);
    case 'UPSTREAM_PEER_ISSUER':
      return (i) => text(i.upstreamSsl?.issuerPeerCertificate);
    case 'UPSTREAM_LOCAL_URI_SAN':
      return (i) => list(i.upstreamSsl?.uriSanLocalCertificate);
    default:
      return null;
  }
}

// Matches %NAME%, %NAME(arg)% and %NAME(arg):N%.
const OPERATOR_RE = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;

/** Compiles a format string into literal and writer parts; throws FormatError naming the operator. */
export function compileFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let last = 0;
  const text = format.replaceAll('%%', '\u0000');
  for (const m of text.matchAll(OPERATOR_RE)) {
    const [whole, name, arg, len] = m as unknown as [string, string, string | undefined, string | undefined];
    const maxLen = len === undefined ? null : Number(len);
    let writer: FieldWriter | null;
    if (name === 'REQ' || name === 'RESP') {
      if (arg === undefined) throw new FormatError(`'${whole}' needs a header name: %${name}(X?Y):Z%`);
      writer = headerOperator(name === 'REQ' ? 'request' : 'response', arg, maxLen);
    } else if (name === 'FILTER_STATE') {
      if (arg === undefined || arg === '') throw new FormatError(`'${whole}' needs a key: %FILTER_STATE(KEY:PLAIN)%`);
      writer = filterStateOperator(arg, whole);
    } else if (name === 'GRPC_STATUS' || name === 'GRPC_STATUS_NUMBER') {
      writer = grpcStatusOperator(name === 'GRPC_STATUS_NUMBER' ? 'NUMBER' : (arg ?? ''), whole);
    } else if (name === 'START_TIME' && arg !== undefined && arg !== '') {
      const fmt = compileTimeFormat(arg);
      writer = staged(startTimeOf, (ms) => fmt(ms as number));
    } else {
      writer = simpleOperator(name);
      if (writer === null) throw new FormatError(`unsupported command operator '%${name}%'`);
      if (maxLen !== null) {
        const truncate = (v: RecordValue): RecordValue =>
          typeof v === 'string' && v.length > maxLen ? v.slice(0, maxLen) : v;
        const inner = writer;
        const render = renderOf(inner);
        writer = render === null ? (i) => truncate(inner(i)) : staged(extractorOf(inner), (v) => truncate(render(v)));
      }
    }
    if (m.index > last) parts.push(text.slice(last, m.index).replaceAll('\u0000', '%'));
    parts.push(writer);
    last = m.index + whole.length;
  }
  if (last < text.length) parts.push(text.slice(last).replaceAll('\u0000', '%'));
  return parts;
}

const DASH = 0x2d;

/** Most streams have no flag: `-` as a byte. */
function printResponseFlags(flags: string | number, out: ProtoWriter): void {
  if (flags === 0) {
    out.ensure(1);
    out.byte(DASH);
  } else out.text(formatResponseFlags(flags as number));
}

/** A value's text as UTF-8: non-negative integers digit by digit, anything else via its string. */
function writeValue(out: ProtoWriter, v: string | number): void {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) writeUintDigits(out, v);
  else out.text(typeof v === 'string' ? v : String(v));
}

/** Literal text between operators (a few bytes: `" "`, `] "`), copied by a loop. */
function writeLiteral(out: ProtoWriter, literal: Uint8Array): void {
  const n = literal.length;
  if (n === 0) return;
  if (n > 16) return out.append(literal);
  out.ensure(n);
  const b = out.buf;
  const p = out.pos;
  for (let i = 0; i < n; i++) b[p + i] = literal[i]!;
  out.pos = p + n;
}

/** A compiled text format: concatenation with `-` for missing values. */
export class TextFormatter {
  readonly #parts: readonly FormatPart[];
  /** The parts with literals as their UTF-8 bytes, for formatInto. */
  readonly #byteParts: ReadonlyArray<Uint8Array | FieldWriter>;
  /** Per operator, in order: what the request thread records, and what prints the record. */
  readonly #extractors: readonly FieldWriter[];
  readonly #renderers: ReadonlyArray<Render | null>;
  readonly #printers: ReadonlyArray<Print | null>;
  /**
   * The literal text before each operator, then the text after the last one, as UTF-8 (empty
   * where two operators meet): formatRecordInto walks operators only, with no type test per part.
   */
  readonly #literals: readonly Uint8Array[];

  constructor(format: string) {
    this.#parts = compileFormat(format);
    this.#byteParts = this.#parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
    const operators = this.#parts.filter((p): p is FieldWriter => typeof p !== 'string');
    this.#extractors = operators.map(extractorOf);
    this.#renderers = operators.map(renderOf);
    this.#printers = operators.map(printerOf);
    const literals: Uint8Array[] = [];
    let text = '';
    for (const p of this.#parts) {
      if (typeof p === 'string') text += p;
      else {
        literals.push(Buffer.from(text));
        text = '';
      }
    }
    literals.push(Buffer.from(text));
    this.#literals = literals;
  }

  /** Request thread: the stream's raw operator values, appended to the record being written. */
  recordInto(info: StreamInfo, w: ProtoWriter): void {
    const x = this.#extractors;
    for (let i = 0; i < x.length; i++) writeRecordValue(w, x[i]!(info));
  }

  /** The line recordInto's values make, as UTF-8 into `out` (the bytes formatInto writes). */
  formatRecordInto(r: RecordReader, out: ProtoWriter): void {
    const literals = this.#literals;
    const renderers = this.#renderers;
    const printers = this.#printers;
    const n = renderers.length;
    for (let k = 0; k < n; k++) {
      writeLiteral(out, literals[k]!);
      const render = renderers[k]!;
      // A string or count printed as recorded is copied as the bytes it already is or its digits.
      if (render === null && (r.copyStringInto(out) || r.copyUintInto(out))) continue;
      const print = printers[k]!;
      if (print !== null) {
        const raw = r.value();
        if (raw !== null) {
          print(raw, out);
          continue;
        }
        out.ensure(1);
        out.byte(DASH);
        continue;
      }
      const v = renderValue(r.value(), render);
      if (v === null) {
        out.ensure(1);
        out.byte(DASH);
      } else writeValue(out, v);
    }
    writeLiteral(out, literals[n]!);
  }

  /** The line recordInto's values make, as a string (format's result). */
  formatRecord(r: RecordReader): string {
    let out = '';
    let k = 0;
    for (const p of this.#parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const v = renderValue(r.value(), this.#renderers[k++]!);
      out += v === null ? '-' : v;
    }
    return out;
  }

  /** The line's UTF-8 bytes straight into `out`: no string pieces to join, flatten or collect. */
  formatInto(info: StreamInfo, out: ProtoWriter): void {
    for (const p of this.#byteParts) {
      if (p instanceof Uint8Array) {
        out.append(p);
        continue;
      }
      const v = p(info);
      if (v === null) {
        out.ensure(1);
        out.byte(DASH);
      } else writeValue(out, v);
    }
  }

  format(info: StreamInfo): string {
    let out = '';
    for (const p of this.#parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const v = p(info);
      out += v === null ? '-' : v;
    }
    return out;
  }
}

type JsonTemplate = { [key: string]: JsonTemplateValue };
type JsonTemplateValue = string | number | boolean | null | JsonTemplate | JsonTemplateValue[];

interface CompiledJsonField {
  readonly key: string;
  /** `{"key":` (the first key) or `,"key":` as UTF-8: formatRecordInto copies it. */
  readonly keyBytes: Uint8Array;
  /** A lone operator keeps its type (number/null); mixed text is rendered as a string. */
  readonly single: FieldWriter | null;
  /** What prints single's recorded value (null: printed as recorded). */
  readonly render: Render | null;
  /** What prints it as bytes (null: render, then write). */
  readonly print: Print | null;
  readonly text: TextFormatter | null;
  readonly literal: JsonTemplateValue | undefined;
  readonly nested: CompiledJson | null;
}

/** A field with no format string of its own: a nested object's or a number/boolean literal's. */
function fixedField(
  key: string,
  keyBytes: Uint8Array,
  nested: CompiledJson | null,
  literal: JsonTemplateValue | undefined,
): CompiledJsonField {
  return { key, keyBytes, single: null, render: null, print: null, text: null, literal, nested };
}

/**
 * Keys JSON.stringify would not print in template order (integer-like keys come first in a
 * JavaScript object) or at all (`__proto__` sets the prototype): a template with one is
 * printed through an object, as before.
 */
function reordersOrDrops(key: string): boolean {
  return key === '__proto__' || /^(0|[1-9][0-9]*)$/.test(key);
}

const JSON_NULL = Buffer.from('null');

/** A value as JSON.stringify prints it, as UTF-8 into `out`. */
function writeJsonValue(out: ProtoWriter, v: RecordValue): void {
  if (v === null) return out.append(JSON_NULL);
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return writeUintDigits(out, v);
    return out.text(JSON.stringify(v));
  }
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return out.text(JSON.stringify(v));
  }
  out.ensure(n + 2);
  out.byte(0x22);
  out.utf8(v);
  out.byte(0x22);
}

/** Envoy's `json_format`: a map of keys to format strings (nested objects allowed). */
export class CompiledJson {
  readonly #fields: CompiledJsonField[] = [];
  /** Whether formatRecordInto writes the JSON itself (no key JSON.stringify would move or drop). */
  readonly #direct: boolean;

  constructor(template: Record<string, unknown>, path = '') {
    let direct = true;
    for (const [key, value] of Object.entries(template)) {
      if (reordersOrDrops(key)) direct = false;
      const keyBytes = Buffer.from(`${this.#fields.length === 0 ? '{' : ','}${JSON.stringify(key)}:`);
      const at = path === '' ? key : `${path}.${key}`;
      if (typeof value === 'string') {
        let parts: FormatPart[];
        try {
          parts = compileFormat(value);
        } catch (err) {
          throw new FormatError(`json_format.${at}: ${(err as Error).message}`);
        }
        const single = parts.length === 1 && typeof parts[0] === 'function' ? parts[0] : null;
        this.#fields.push({
          key,
          keyBytes,
          single,
          render: single === null ? null : renderOf(single),
          print: single === null ? null : printerOf(single),
          text: single === null ? new TextFormatter(value) : null,
          literal: undefined,
          nested: null,
        });
      } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const nested = new CompiledJson(value as Record<string, unknown>, at);
        if (!nested.#direct) direct = false;
        this.#fields.push(fixedField(key, keyBytes, nested, undefined));
      } else if (typeof value === 'number' || typeof value === 'boolean') {
        this.#fields.push(fixedField(key, keyBytes, null, value));
      } else {
        throw new FormatError(`json_format.${at}: expected a string, number, boolean or object`);
      }
    }
    this.#direct = direct;
  }

  build(info: StreamInfo): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.#fields) {
      if (f.single !== null) out[f.key] = f.single(info);
      else if (f.text !== null) out[f.key] = f.text.format(info);
      else if (f.nested !== null) out[f.key] = f.nested.build(info);
      else out[f.key] = f.literal;
    }
    return out;
  }

  format(info: StreamInfo): string {
    return `${JSON.stringify(this.build(info))}\n`;
  }

  formatInto(info: StreamInfo, out: ProtoWriter): void {
    out.text(this.format(info));
  }

  /** Request thread: the raw operator values, fields depth first (as buildFromRecord reads them). */
  recordInto(info: StreamInfo, w: ProtoWriter): void {
    for (const f of this.#fields) {
      if (f.single !== null) writeRecordValue(w, extractorOf(f.single)(info));
      else if (f.text !== null) f.text.recordInto(info, w);
      else if (f.nested !== null) f.nested.recordInto(info, w);
    }
  }

  buildFromRecord(r: RecordReader): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.#fields) {
      if (f.single !== null) out[f.key] = renderValue(r.value(), renderOf(f.single));
      else if (f.text !== null) out[f.key] = f.text.formatRecord(r);
      else if (f.nested !== null) out[f.key] = f.nested.buildFromRecord(r);
      else out[f.key] = f.literal;
    }
    return out;
  }

  formatRecordInto(r: RecordReader, out: ProtoWriter): void {
    if (!this.#direct) return out.text(`${JSON.stringify(this.buildFromRecord(r))}\n`);
    this.#writeRecordInto(r, out);
    out.ensure(1);
    out.byte(0x0a);
  }

  /** buildFromRecord's object as JSON.stringify prints it, written without the object. */
  #writeRecordInto(r: RecordReader, out: ProtoWriter): void {
    const fields = this.#fields;
    if (fields.length === 0) {
      out.ensure(1);
      out.byte(0x7b); // {
    }
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      writeLiteral(out, f.keyBytes);
      if (f.single !== null) {
        const render = f.render;
        if (render === null && (r.copyJsonStringInto(out) || r.copyUintInto(out))) continue;
        const print = f.print;
        if (print !== null) {
          const raw = r.value();
          if (raw === null) out.append(JSON_NULL);
          else {
            out.ensure(1);
            out.byte(0x22);
            print(raw, out);
            out.ensure(1);
            out.byte(0x22);
          }
          continue;
        }
        writeJsonValue(out, renderValue(r.value(), render));
      } else if (f.text !== null) writeJsonValue(out, f.text.formatRecord(r));
      else if (f.nested !== null) f.nested.#writeRecordInto(r, out);
      else out.text(JSON.stringify(f.literal));
    }
    out.ensure(1);
    out.byte(0x7d); // }
  }
}

/** What loggers format a stream with: a text or a JSON formatter. */
export interface LineFormatter {
  format(info: StreamInfo): string;
  /** The same line as UTF-8 bytes, appended to `out`. */
  formatInto(info: StreamInfo, out: ProtoWriter): void;
  /** Request thread: the stream's raw operator values, appended to a record (stream-record.ts). */
  recordInto(info: StreamInfo, w: ProtoWriter): void;
  /** Telemetry thread: the same line as formatInto's, from the values recordInto wrote. */
  formatRecordInto(r: RecordReader, out: ProtoWriter): void;
}
