// Chooses a filter chain's or cluster's transport socket from its validated config, once, at
// config load: raw TCP keeps the plaintext path exactly as it was (no TLS code runs per
// connection), `envoy.transport_sockets.tls` builds a TLS context with its certificates and
// SDS subscriptions. A cluster's `transport_socket_matches` pick per endpoint by its
// `envoy.transport_socket_match` metadata (the first match whose every key equals the
// endpoint's), falling back to the cluster's `transport_socket`.
import {
  type DownstreamTransportSocketConfig,
  downstreamTlsContextOf,
  type TransportSocketMatchConfig,
  type UpstreamTransportSocketConfig,
  upstreamTlsContextOf,
} from '../../api/tls.js';
import type { Scope } from '../../stats/types.js';
import type { ExtensionContext } from '../extension-context.js';
import { rawBufferDownstreamFactory, rawBufferUpstreamFactory } from './raw-buffer-socket.js';
import { SecretManager } from './tls/secret-manager.js';
import { ClientTlsContext, ServerTlsContext } from './tls/tls-context.js';
import { TlsDownstreamFactory, TlsStats, TlsUpstreamFactory } from './tls/tls-socket.js';
import type { DownstreamTransportSocketFactory, UpstreamTransportSocketFactory } from './transport-socket.js';

/** Reports an SDS update whose material did not load: the last good stays; counted and logged. */
function rejectionReporter(scope: () => Scope): (field: string, reason: string) => void {
  return (field, reason) => {
    scope().counter('sds.update_rejected').inc();
    process.stderr.write(`[warning] TLS secret update rejected, keeping the last good one: ${field}: ${reason}\n`);
  };
}

export function downstreamTransportSocketFactory(
  config: DownstreamTransportSocketConfig | undefined,
  field: string,
  context: ExtensionContext,
  scope: () => Scope,
): DownstreamTransportSocketFactory {
  const tls = downstreamTlsContextOf(config);
  if (tls === null) return rawBufferDownstreamFactory;
  const secrets = context.secrets ?? new SecretManager();
  const ctx = new ServerTlsContext(tls, `${field}.typed_config`, secrets, rejectionReporter(scope));
  return new TlsDownstreamFactory(ctx, new TlsStats(scope));
}

interface ByProtocol {
  readonly h1: UpstreamTransportSocketFactory;
  readonly h2: UpstreamTransportSocketFactory;
  readonly tcp: UpstreamTransportSocketFactory;
}

const RAW: ByProtocol = { h1: rawBufferUpstreamFactory, h2: rawBufferUpstreamFactory, tcp: rawBufferUpstreamFactory };

/** A cluster's transport sockets: per endpoint metadata, and per protocol (ALPN h2 or http/1.1). */
export class UpstreamTransportSockets {
  readonly #matches: ReadonlyArray<{ match: Record<string, unknown> } & ByProtocol>;
  readonly #main: ByProtocol;
  /** The TLS contexts among them (admin /certs lists them). */
  readonly tlsContexts: readonly ClientTlsContext[];

  constructor(
    socket: UpstreamTransportSocketConfig | undefined,
    matches: readonly TransportSocketMatchConfig[] | undefined,
    field: string,
    secretManager: SecretManager | undefined,
    scope: Scope,
  ) {
    const contexts: ClientTlsContext[] = [];
    const stats = new TlsStats(scope);
    const onRejected = rejectionReporter(() => scope);
    const secrets = secretManager ?? new SecretManager();
    const build = (cfg: UpstreamTransportSocketConfig | undefined, f: string) => {
      const tls = upstreamTlsContextOf(cfg);
      if (tls === null) return RAW;
      const ctx = new ClientTlsContext(tls, `${f}.typed_config`, secrets, onRejected);
      contexts.push(ctx);
      return {
        h1: new TlsUpstreamFactory(ctx, stats, ['http/1.1']),
        h2: new TlsUpstreamFactory(ctx, stats, ['h2']),
        tcp: new TlsUpstreamFactory(ctx, stats, []),
      };
    };
    this.#main = build(socket, `${field}.transport_socket`);
    this.#matches = (matches ?? []).map((m, i) => ({
      match: m.match ?? {},
      ...build(m.transport_socket, `${field}.transport_socket_matches[${i}].transport_socket`),
    }));
    this.tlsContexts = contexts;
  }

  /** Ends the TLS contexts' SDS subscriptions (the cluster was removed or replaced). */
  close(): void {
    for (const c of this.tlsContexts) c.close();
  }

  /**
   * The factory for an endpoint with `metadata` (its `envoy.transport_socket_match` filter
   * metadata) and what runs over it: ALPN offers `http/1.1` or `h2`, none for tcp_proxy.
   */
  factoryFor(
    metadata: Readonly<Record<string, unknown>> | undefined,
    protocol: 'h1' | 'h2' | 'tcp',
  ): UpstreamTransportSocketFactory {
    for (const m of this.#matches) {
      if (Object.entries(m.match).every(([k, v]) => metadata !== undefined && metadata[k] === v)) return m[protocol];
    }
    return this.#main[protocol];
  }
}
