// envoy.filters.listener.tls_inspector: tells TLS from plaintext by the first bytes and, for
// TLS, reads SNI and ALPN from the ClientHello, so `filter_chain_match` can choose a chain by
// `transport_protocol: tls`, `server_names` and `application_protocols` (no TLS is terminated
// here: that is the chain's transport socket's job). Stats under `tls_inspector.`, as Envoy's.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { type ListenerFilter, registries } from '../../../../core/extension-points.js';
import { parseClientHello } from './client-hello.js';

export const TLS_INSPECTOR_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

/** Envoy's bound on a ClientHello (64 KiB); a larger one closes the connection. */
const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const tlsInspectorSchema = z.object({ '@type': z.literal(TLS_INSPECTOR_TYPE_URL).optional() }).strict();

registries.listenerFilters.register(
  defineExtension({
    name: 'envoy.filters.listener.tls_inspector',
    typeUrls: [TLS_INSPECTOR_TYPE_URL],
    configSchema: tlsInspectorSchema,
    create(_config, context): ListenerFilter {
      const scope = context.stats.scope('tls_inspector');
      const stats = {
        tlsFound: scope.counter('tls_found'),
        tlsNotFound: scope.counter('tls_not_found'),
        sniFound: scope.counter('sni_found'),
        sniNotFound: scope.counter('sni_not_found'),
        alpnFound: scope.counter('alpn_found'),
        alpnNotFound: scope.counter('alpn_not_found'),
        tooLarge: scope.counter('client_hello_too_large'),
      };
      return {
        maxReadBytes: MAX_CLIENT_HELLO_BYTES,
        onData(data, socket) {
          const hello = parseClientHello(data);
          if (hello.kind === 'need_more_data') {
            if (data.length < MAX_CLIENT_HELLO_BYTES) return 'need_more_data';
            stats.tooLarge.inc();
            return 'close';
          }
          if (hello.kind === 'not_tls') {
            stats.tlsNotFound.inc();
            return 'continue';
          }
          stats.tlsFound.inc();
          socket.detectedTransportProtocol = 'tls';
          if (hello.serverName === '') stats.sniNotFound.inc();
          else {
            stats.sniFound.inc();
            socket.requestedServerName = hello.serverName;
          }
          if (hello.applicationProtocols.length === 0) stats.alpnNotFound.inc();
          else {
            stats.alpnFound.inc();
            socket.requestedApplicationProtocols = hello.applicationProtocols;
          }
          return 'continue';
        },
      };
    },
  }),
);
