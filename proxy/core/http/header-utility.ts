// What the connection manager and the router do to headers whatever the codec (Envoy's
// ConnectionManagerUtility and HeaderUtility): connection-specific (hop-by-hop) headers,
// Expect: 100-continue, path normalisation, the trusted client address from x-forwarded-for,
// x-forwarded-proto from the transport's scheme, x-request-id, and x-envoy-upstream-service-time.
// Codecs frame bytes; these decide what the proxy forwards.
import type { HeaderMap } from './headers.js';
import { randomRequestId } from './request-id.js';

/**
 * Request header names the HCM never forwards: connection-specific ones (RFC 9110 §7.6.1) and
 * `expect`, which the HCM answers itself (Envoy's proxy_100_continue off).
 */
const HOP_BY_HOP_REQUEST = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'expect'];

/** Response header names never forwarded from upstream (hop-by-hop). */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export function isHopByHopResponseHeader(name: string): boolean {
  return HOP_BY_HOP_RESPONSE.has(name);
}

/** A 101 keeps `upgrade`: it names the protocol switched to. */
export function isHopByHopResponseHeaderBut101Upgrade(name: string): boolean {
  return name !== 'upgrade' && HOP_BY_HOP_RESPONSE.has(name);
}

/**
 * Drops the request's connection-specific headers and `expect`; returns whether the request
 * asked for `100-continue`, which the HCM then answers itself. `te` survives only as
 * `te: trailers`, as Envoy keeps it (gRPC requires it end to end).
 */
export function removeHopByHopRequestHeaders(h: HeaderMap): boolean {
  const expect = h.get('expect');
  // HTTP2-Settings is hop-by-hop when Connection lists it (an h2c upgrade, RFC 9113 §3.2.1).
  if (h.has('http2-settings') && /(?:^|,)\s*http2-settings\s*(?:,|$)/i.test(h.get('connection') ?? ''))
    h.remove('http2-settings');
  for (let i = 0; i < HOP_BY_HOP_REQUEST.length; i++) h.remove(HOP_BY_HOP_REQUEST[i]!);
  const te = h.get('te');
  if (te !== undefined) {
    h.remove('te');
    if (/(^|[\s,])trailers([\s,;]|$)/i.test(te)) h.add('te', 'trailers');
  }
  return expect !== undefined && expect.toLowerCase() === '100-continue';
}

/**
 * Envoy's path normalisation: `normalize_path` removes `.`/`..` segments (RFC 3986 §5.2.4)
 * after decoding percent-encoded unreserved characters; `merge_slashes` collapses `//`.
 * The query string is left alone. Null when the path is not a valid origin-form path.
 */
export function normalizeRequestPath(full: string, normalize: boolean, merge: boolean): string | null {
  const q = full.indexOf('?');
  let path = q === -1 ? full : full.slice(0, q);
  if (normalize) {
    if (path.includes('\\')) path = path.replaceAll('\\', '/');
    path = path.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
    });
    const out: string[] = [];
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const seg = segments[i]!;
      const last = i === segments.length - 1;
      if (seg === '.') {
        if (last) out.push('');
      } else if (seg === '..') {
        out.pop();
        if (last) out.push('');
      } else out.push(seg);
    }
    path = `/${out.join('/')}`;
  }
  if (merge) path = path.replace(/\/{2,}/g, '/');
  if (path.charCodeAt(0) !== 47) return null;
  return q === -1 ? path : path + full.slice(q);
}

/** Envoy's trusted client address from the peer and x-forwarded-for. */
export function clientAddress(
  peer: string,
  xff: string | undefined,
  useRemoteAddress: boolean,
  trustedHops: number,
): string {
  if (useRemoteAddress && trustedHops === 0) return peer;
  if (xff === undefined) return peer;
  const entries = xff
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  // With use_remote_address the peer counts as the last hop: trust N entries from the right.
  const index = useRemoteAddress ? entries.length - trustedHops : entries.length - 1 - trustedHops;
  return index >= 0 && index < entries.length ? entries[index]! : peer;
}

/** RFC 1918, loopback, link-local and unique-local addresses count as internal, as in Envoy. */
export function isInternalAddress(a: string): boolean {
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (/^(10\.|127\.|192\.168\.|169\.254\.)/.test(v4) || /^172\.(1[6-9]|2\d|3[01])\./.test(v4)) return true;
  return a === '::1' || /^f[cd]/i.test(a);
}

/** The HCM settings the request mutations read. */
export interface RequestMutationSettings {
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  /** `add_user_agent`: the local service cluster and node; null when off. */
  readonly userAgent: { readonly cluster: string; readonly node: string } | null;
}

/** What mutateRequestHeaders found: the client address the stream is attributed to, and the request id. */
export interface RequestMutationResult {
  downstreamRemoteAddress: string;
  requestId: string | null;
}

/**
 * Envoy's ConnectionManagerUtility::mutateRequestHeaders. The client address: with
 * use_remote_address the peer, unless xff_num_trusted_hops trusts that many proxies in
 * x-forwarded-for; without it, x-forwarded-for decides. x-forwarded-proto is the transport's
 * scheme at the edge, kept from downstream otherwise. x-request-id is generated when absent,
 * and at the edge an external client's id is not trusted unless preserved.
 */
export function mutateRequestHeaders(
  h: HeaderMap,
  peer: string,
  scheme: string,
  s: RequestMutationSettings,
  out: RequestMutationResult,
): void {
  const xff = h.get('x-forwarded-for');
  const client = clientAddress(peer, xff, s.useRemoteAddress, s.xffNumTrustedHops);
  out.downstreamRemoteAddress = client;
  if (s.useRemoteAddress) {
    if (!s.skipXffAppend) h.set('x-forwarded-for', xff === undefined ? peer : `${xff}, ${peer}`);
    h.set('x-forwarded-proto', scheme);
  } else if (!h.has('x-forwarded-proto')) {
    h.add('x-forwarded-proto', scheme);
  }
  const ua = s.userAgent;
  if (ua !== null) {
    // Envoy's add_user_agent: who is calling, and a user-agent when the client sent none.
    h.set('x-envoy-downstream-service-cluster', ua.cluster);
    if ((h.get('user-agent') ?? '') === '') h.set('user-agent', ua.cluster);
    if (ua.node !== '') h.set('x-envoy-downstream-service-node', ua.node);
  }
  let requestId = h.get('x-request-id');
  const external = s.useRemoteAddress && !isInternalAddress(client);
  if (
    s.generateRequestId &&
    (requestId === undefined || requestId === '' || (external && !s.preserveExternalRequestId))
  ) {
    requestId = randomRequestId();
    h.set('x-request-id', requestId);
  }
  out.requestId = requestId ?? null;
}

/** x-envoy-upstream-service-time: the upstream attempt's time to response headers, in whole ms. */
export function setUpstreamServiceTime(h: HeaderMap, elapsedMs: number): void {
  // This hop's time replaces what an upstream proxy set, as Envoy does, rather than adding to it.
  h.set('x-envoy-upstream-service-time', String(Math.round(elapsedMs)));
}
