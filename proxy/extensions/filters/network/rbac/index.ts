// envoy.filters.network.rbac: the RBAC engine of the HTTP filter applied to a connection, before
// the chain's terminal filter (tcp_proxy, the HCM) sees it. What it reads is what a connection
// shows: addresses, ports, SNI and the peer certificate's identity; header and path matchers
// never match here (a connection has none), as in Envoy.
//
// Envoy decides on the first byte the client sends (ONE_TIME_ON_FIRST_BYTE) or on every read
// (CONTINUOUS). Every input is known once the transport is connected (after the TLS handshake,
// at accept in plaintext), and none changes later, so meshscope decides there, once, for both
// types: the verdict is the one Envoy reaches, reached before any byte flows, so a refused
// client of a server-first protocol (MySQL, SMTP) does not see the upstream's greeting either.
// A refusal closes the connection; CONNECTION_TERMINATION_DETAILS names the matched policy in the
// line the chain's tcp_proxy logs for it (it logs refused connections as Envoy's does).
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { type NetworkReadFilter, registries } from '../../../../core/extension-points.js';
import { HeaderMap } from '../../../../core/http/headers.js';
import type { TransportSocket } from '../../../../core/network/transport-socket.js';
import { connectionStreamInfo } from '../../../../core/stream-info.js';
import { rbacRulesSchema } from '../../http/rbac/config.js';
import type { RbacRequest } from '../../http/rbac/engine.js';
import { RbacFilterConfig } from '../../http/rbac/filter.js';

export const NETWORK_RBAC_FILTER_NAME = 'envoy.filters.network.rbac';
export const NETWORK_RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

export const networkRbacSchema = z.strictObject({
  '@type': z.literal(NETWORK_RBAC_TYPE_URL).optional(),
  rules: rbacRulesSchema.optional(),
  shadow_rules: rbacRulesSchema.optional(),
  shadow_rules_stat_prefix: z.string().default(''),
  stat_prefix: z.string().min(1),
  enforcement_type: z.enum(['ONE_TIME_ON_FIRST_BYTE', 'CONTINUOUS']).default('ONE_TIME_ON_FIRST_BYTE'),
});

const NO_HEADERS = new HeaderMap();

/**
 * The peer's identity as Envoy's `authenticated` principal reads it: the certificate's URI SAN,
 * else its DNS SAN, else its subject; undefined in plaintext or without a client certificate.
 */
function peerPrincipalOf(transport: TransportSocket): string | undefined {
  const ssl = transport.ssl;
  if (ssl === null || !ssl.peerCertificatePresented) return undefined;
  return ssl.uriSanPeerCertificate[0] ?? ssl.dnsSansPeerCertificate[0] ?? ssl.subjectPeerCertificate;
}

function connectionRequest(transport: TransportSocket): RbacRequest {
  return {
    headers: NO_HEADERS,
    path: '',
    // A connection has no x-forwarded-for: the remote and the direct remote address are the peer.
    remoteIp: transport.remoteAddress,
    directRemoteIp: transport.remoteAddress,
    localIp: transport.localAddress,
    localPort: transport.localPort,
    peerPrincipal: peerPrincipalOf(transport),
    requestedServerName: transport.requestedServerName,
  };
}

/** Envoy joins a stat prefix and a name with one dot, whether or not the prefix ends with one. */
function statScopeName(prefix: string): string {
  return `${prefix.endsWith('.') ? prefix.slice(0, -1) : prefix}.rbac`;
}

registries.networkFilters.register(
  defineExtension({
    name: NETWORK_RBAC_FILTER_NAME,
    typeUrls: [NETWORK_RBAC_TYPE_URL],
    configSchema: networkRbacSchema,
    terminal: false,
    create(config, context): NetworkReadFilter {
      const rbac = new RbacFilterConfig(
        {
          rules: config.rules,
          rules_stat_prefix: '',
          shadow_rules: config.shadow_rules,
          shadow_rules_stat_prefix: config.shadow_rules_stat_prefix,
          track_per_rule_stats: false,
        },
        context.stats.scope(statScopeName(config.stat_prefix)),
      );
      return {
        terminal: false,
        onNewConnection(transport, listener) {
          let refused = false;
          const decide = (): void => {
            const request = connectionRequest(transport);
            if (rbac.shadow !== undefined) rbac.countShadow(rbac.shadow.evaluate(request).allowed);
            if (rbac.engine === undefined) return;
            const verdict = rbac.engine.evaluate(request);
            rbac.count(verdict.allowed, verdict.policy);
            if (verdict.allowed) return;
            refused = true;
            // What the connection's access log lines (tcp_proxy's) say about its end, as Envoy's filter sets it.
            connectionStreamInfo(transport, listener.name).connectionTerminationDetails =
              `rbac_access_denied_matched_policy[${(verdict.policy ?? 'none').replace(/\s/g, '_')}]`;
            transport.stream.destroy();
          };
          transport.onConnected(decide);
          // Raw TCP is connected at once: a refusal is known before the terminal filter runs.
          return refused ? 'stop' : 'continue';
        },
      };
    },
  }),
);
