// The header names most requests and responses carry, as the lower-case string constants the
// rest of the proxy compares them with. The HTTP/1 parser looks a name up here, ignoring case,
// straight in the head's text before it would slice the name out and lower-case it: a known name
// costs no allocation (two strings each otherwise: the slice, then its lower-case copy when the
// peer sent `Content-Length`), and the name the header map holds is then the same internalized
// string as the literals the proxy looks headers up by, so those lookups compare pointers instead
// of characters.

const NAMES = [
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'access-control-allow-origin',
  'age',
  'authorization',
  'b3',
  'baggage',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-range',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expect',
  'expires',
  'forwarded',
  'host',
  'if-modified-since',
  'if-none-match',
  'keep-alive',
  'last-modified',
  'location',
  'origin',
  'pragma',
  'proxy-connection',
  'range',
  'referer',
  'server',
  'set-cookie',
  'strict-transport-security',
  'te',
  'traceparent',
  'tracestate',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'vary',
  'via',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-spanid',
  'x-b3-traceid',
  'x-client-trace-id',
  'x-content-type-options',
  'x-envoy-attempt-count',
  'x-envoy-decorator-operation',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-external-address',
  'x-envoy-internal',
  'x-envoy-original-path',
  'x-envoy-peer-metadata',
  'x-envoy-peer-metadata-id',
  'x-envoy-upstream-service-time',
  'x-forwarded-client-cert',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'x-request-id',
] as const;

/** The known names by length (an empty list where none is that long), each in the order above. */
const BY_LENGTH: string[][] = Array.from({ length: Math.max(...NAMES.map((n) => n.length)) + 1 }, () => []);
for (const name of NAMES) BY_LENGTH[name.length]!.push(name);

/**
 * The known lower-case name equal to text[start, end) ignoring ASCII case, or null. A match is
 * a valid field name (every known name is a token), so the caller need not check it again.
 */
export function knownHeaderName(text: string, start: number, end: number): string | null {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  next: for (let k = 0; k < candidates.length; k++) {
    const name = candidates[k]!;
    for (let i = 0; i < name.length; i++) {
      let c = text.charCodeAt(start + i);
      // ASCII upper case to lower; nothing else folds (a name is compared byte by byte).
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name.charCodeAt(i)) continue next;
    }
    return name;
  }
  return null;
}

/** BY_LENGTH's names as latin1 bytes, index for index: compared with a head's bytes, not as strings. */
const BYTES_BY_LENGTH: Uint8Array[][] = BY_LENGTH.map((names) =>
  names.map((n) => Uint8Array.from(n, (ch) => ch.charCodeAt(0))),
);

/**
 * knownHeaderName for the latin1 bytes bytes[start, end): the same names, compared byte array to
 * byte array (a string's charCodeAt, even of a constant, costs more than a typed-array read).
 */
export function knownHeaderNameIn(bytes: Uint8Array, start: number, end: number): string | null {
  const candidates = BYTES_BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  next: for (let k = 0; k < candidates.length; k++) {
    const name = candidates[k]!;
    for (let i = 0; i < name.length; i++) {
      let c = bytes[start + i]!;
      // ASCII upper case to lower; nothing else folds (a name is compared byte by byte).
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name[i]) continue next;
    }
    return BY_LENGTH[end - start]![k]!;
  }
  return null;
}
