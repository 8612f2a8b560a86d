// What the proxy knows of gRPC, after Envoy's source/common/grpc (common.cc, status.cc): which
// requests are gRPC, the status a response carries (trailers, else a trailers-only head, else
// the HTTP status mapped as gRPC's http-grpc-status-mapping.md says), `grpc-timeout`, and the
// names `%GRPC_STATUS%` prints. Pure functions; nothing here runs unless a caller already
// knows it deals with a gRPC stream or a local reply.
import type { HeaderMap } from '../http/headers.js';
import type { StreamInfo } from '../stream-info.js';
import { GRPC_STATUS_CAMEL_NAMES } from '../../../shared/grpc-status.js';

/** google.rpc.Code, as gRPC's status codes. */
export const GrpcStatus = {
  Ok: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** `%GRPC_STATUS(SNAKE_STRING)%` names, by code (gRPC's own spelling). */
const SNAKE_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export type GrpcStatusFormat = 'CAMEL_STRING' | 'SNAKE_STRING' | 'NUMBER';

/** A code as `%GRPC_STATUS(format)%` prints it; codes past 16 print as numbers in every format. */
export function formatGrpcStatus(code: number, format: GrpcStatusFormat): string {
  if (format === 'NUMBER') return String(code);
  const names = format === 'SNAKE_STRING' ? SNAKE_NAMES : GRPC_STATUS_CAMEL_NAMES;
  return names[code] ?? String(code);
}

const GRPC = 'application/grpc';

/**
 * Envoy's hasGrpcContentType: exactly `application/grpc` or `application/grpc+<codec>`
 * (`application/grpc-web` is gRPC-Web, not gRPC: the grpc_web filter translates it first).
 */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith(GRPC)) return false;
  return contentType.length === GRPC.length || contentType.charCodeAt(GRPC.length) === 43; /* + */
}

/** Envoy's isGrpcRequestHeaders: a request with a path and a gRPC content type. */
export function isGrpcRequest(headers: HeaderMap | null): boolean {
  if (headers === null) return false;
  return headers.has(':path') && isGrpcContentType(headers.get('content-type'));
}

/** Envoy's Utility::httpToGrpcStatus (gRPC's doc/http-grpc-status-mapping.md). */
export function httpToGrpcStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

/** The `grpc-status` a header block carries, -1 when absent or not a number. */
export function grpcStatusOf(headers: HeaderMap | null): number {
  if (headers === null) return -1;
  const v = headers.get('grpc-status');
  if (v === undefined || v === '' || v.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Envoy's Common::getGrpcStatus(trailers, headers, info): the trailers' status, else the
 * head's (a trailers-only response), else the HTTP status mapped; -1 before any response.
 */
export function streamGrpcStatus(info: StreamInfo): number {
  const t = grpcStatusOf(info.responseTrailers);
  if (t !== -1) return t;
  const h = grpcStatusOf(info.responseHeaders);
  if (h !== -1) return h;
  return info.responseCode > 0 ? httpToGrpcStatus(info.responseCode) : -1;
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * `grpc-timeout` (1 to 8 digits and a unit H M S m u n) in whole milliseconds, rounded up as
 * Envoy's getGrpcTimeout does (so 1n is 1ms, not 0 = no limit); null when absent or malformed.
 */
export function parseGrpcTimeout(headers: HeaderMap): number | null {
  const v = headers.get('grpc-timeout');
  if (v === undefined || v.length < 2 || v.length > 9) return null;
  const unit = TIMEOUT_UNIT_MS[v[v.length - 1]!];
  if (unit === undefined) return null;
  const digits = v.slice(0, -1);
  if (!/^\d+$/.test(digits)) return null;
  return Math.ceil(Number(digits) * unit);
}

/**
 * Envoy's PercentEncoding::encode for `grpc-message`: bytes outside printable ASCII and `%`
 * itself become %XX (UTF-8), as the gRPC HTTP/2 spec asks.
 */
export function percentEncodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out +=
      b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

/** `/package.Service/Method` split as OpenTelemetry's rpc.service / rpc.method; null otherwise. */
export function grpcServiceMethod(path: string): { service: string; method: string } | null {
  if (path.charCodeAt(0) !== 47) return null;
  const slash = path.indexOf('/', 1);
  if (slash <= 1 || slash === path.length - 1) return null;
  const q = path.indexOf('?', slash);
  return { service: path.slice(1, slash), method: path.slice(slash + 1, q === -1 ? path.length : q) };
}
