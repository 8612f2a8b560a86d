// auto_sni / auto_san_validation (HttpProtocolOptions.upstream_http_protocol_options): the name an
// upstream TLS connection is made for is the request's host as the router sends it (after the
// route's host rewrites, as Envoy does since 1.32), or override_auto_sni_header's value; without
// its port. An IP literal is no server name (RFC 6066 forbids one in SNI): such requests use the
// host's own pools, with the context's `sni` and SAN matchers, as in Envoy.
import { isIP } from 'node:net';
import type { HeaderMap } from '../http/headers.js';
import type { ClusterInfo } from '../upstream/cluster.js';

/** The request's upstream server name, or null when the cluster does not use one or the host is an IP. */
export function autoServerName(cluster: ClusterInfo, headers: HeaderMap): string | null {
  const auto = cluster.autoServerName;
  if (auto === null) return null;
  const value = headers.get(auto.header);
  if (value === undefined || value === '') return null;
  if (value.startsWith('[')) return null; // [IPv6]:port
  const colon = value.lastIndexOf(':');
  const host = (colon === -1 ? value : value.slice(0, colon)).toLowerCase();
  if (host === '' || isIP(host) !== 0) return null;
  return host;
}
