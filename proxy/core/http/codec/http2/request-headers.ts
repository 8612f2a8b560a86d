// A request head from its decoded HPACK fields, checked as RFC 9113 §8 requires of a server:
// what makes it malformed is answered by the codec with RST_STREAM PROTOCOL_ERROR before the
// connection manager sees it.
import { HeaderMap } from '../../headers.js';

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2). */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
/** RFC 9110 token characters, lower-case only (an upper-case name is malformed in HTTP/2). */
const NAME_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;
/** A field value may not carry NUL, CR or LF (RFC 9113 §8.2.1). */
const BAD_VALUE = /[\0\r\n]/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;

/** What the codec keeps of a request head beyond the header map. */
export interface RequestFacts {
  /** content-length, -1 when absent. */
  contentLength: number;
  /** An extended CONNECT's `:protocol` (RFC 8441), lower-case, once taken as an upgrade; else ''. */
  upgradeType: string;
}

/**
 * A request head as Envoy's header map (`:authority`, `:path`, `:method`, `:scheme` first, as
 * the HTTP/1 codec orders them, cookie crumbs joined), or null when it is malformed (RFC 9113
 * §8.1.1): pseudo-headers after regular ones, unknown, duplicated or missing; upper-case or
 * connection-specific names; `te` other than trailers; a bad value or content-length.
 */
export function requestHeaderMap(
  fields: readonly string[],
  defaultScheme: string,
  facts: RequestFacts,
  allowConnect = false,
): HeaderMap | null {
  let method: string | undefined;
  let protocol: string | undefined;
  let path: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let regular = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const n = fields[i]!;
    const v = fields[i + 1]!;
    if (BAD_VALUE.test(v)) return null;
    if (n.charCodeAt(0) !== 58) {
      if (regular < 0) regular = i;
      continue;
    }
    if (regular >= 0) return null;
    if (n === ':method' && method === undefined) method = v;
    else if (n === ':path' && path === undefined) path = v;
    else if (n === ':scheme' && scheme === undefined) scheme = v;
    else if (n === ':authority' && authority === undefined) authority = v;
    else if (n === ':protocol' && allowConnect && protocol === undefined) protocol = v;
    else return null;
  }
  if (method === undefined) return null;
  if (protocol !== undefined) {
    // Extended CONNECT (RFC 8441 §4) carries :scheme and :path; Envoy's transformUpgradeRequestFromH2toH1
    // makes it the HTTP/1.1 upgrade it stands for, a GET whose `upgrade` the HCM adds back.
    if (method !== 'CONNECT' || protocol === '' || authority === undefined || !path || scheme === undefined)
      return null;
    method = 'GET';
    facts.upgradeType = protocol.toLowerCase();
  } else if (method === 'CONNECT') {
    if (authority === undefined || path !== undefined || scheme !== undefined) return null;
  } else if (path === undefined || path === '' || scheme === undefined) return null;
  const h = new HeaderMap();
  h.add(':authority', authority ?? '');
  h.add(':path', path ?? '');
  h.add(':method', method);
  h.add(':scheme', scheme ?? defaultScheme);
  let cookie: string | null = null;
  let host: string | undefined;
  if (regular >= 0) {
    for (let i = regular; i < fields.length; i += 2) {
      const n = fields[i]!;
      const v = fields[i + 1]!;
      for (let j = 0; j < n.length; j++) if (NAME_CHAR[n.charCodeAt(j)] !== 1) return null;
      if (n.length === 0 || CONNECTION_SPECIFIC.has(n)) return null;
      if (n === 'te') {
        if (v !== 'trailers') return null;
      } else if (n === 'content-length') {
        if (!CONTENT_LENGTH.test(v) || (facts.contentLength >= 0 && facts.contentLength !== Number(v))) return null;
        facts.contentLength = Number(v);
      } else if (n === 'cookie') {
        cookie = cookie === null ? v : `${cookie}; ${v}`;
        continue;
      } else if (n === 'host') {
        host ??= v;
        continue;
      }
      h.add(n, v);
    }
  }
  if (authority === undefined && host !== undefined) h.values[0] = host;
  if (cookie !== null) h.add('cookie', cookie);
  return h;
}

/**
 * A request's trailers (a trailing HEADERS block, pseudo-headers already refused), or null when
 * malformed (RFC 9113 §8.1): an upper-case or connection-specific name, a bad value.
 */
export function trailerMap(fields: readonly string[]): HeaderMap | null {
  const h = new HeaderMap();
  for (let i = 0; i < fields.length; i += 2) {
    const n = fields[i]!;
    const v = fields[i + 1]!;
    if (n.length === 0 || CONNECTION_SPECIFIC.has(n) || BAD_VALUE.test(v)) return null;
    for (let j = 0; j < n.length; j++) if (NAME_CHAR[n.charCodeAt(j)] !== 1) return null;
    h.add(n, v);
  }
  return h;
}
