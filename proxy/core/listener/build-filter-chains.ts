// Builds a listener's filter chains, matcher and listener filters for one worker from its
// validated config: every network filter of every chain in order (the schema has checked that
// exactly the last one is terminal), `default_filter_chain` as the fallback.
import type { ListenerConfig } from '../../api/schema.js';
import type { Scope } from '../../stats/types.js';
import { durationMs } from '../../api/duration.js';
import {
  type AccessLogger,
  type ExtensionContext,
  isNetworkReadFilter,
  type ListenerFilter,
  type NetworkFilter,
  type NetworkFilterContext,
  type NetworkReadFilter,
  registries,
} from '../extension-points.js';
import { FilterChain } from './filter-chain.js';
import { downstreamTransportSocketFactory } from '../network/transport-socket-factories.js';
import { listenerName } from './listener.js';
import { FilterChainMatcher } from './filter-chain-matcher.js';
import type { ListenerFilterChains } from './listener.js';

/** Envoy's default `listener_filters_timeout`. */
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

type ChainConfig = ListenerConfig['filter_chains'][number];

export function buildFilterChains(
  config: ListenerConfig,
  networkContext: NetworkFilterContext,
  listenerContext: ExtensionContext,
): ListenerFilterChains {
  const where = `listener '${listenerName(config)}'`;
  // Envoy's listener.<address>.ssl.* (the configured port: an ephemeral one is known only once bound).
  const a = config.address.socket_address;
  const statsScope = {
    current: networkContext.stats.scope(`listener.${config.stat_prefix ?? `${a.address}_${a.port_value}`}`),
  };
  const scope = (): Scope => statsScope.current;
  const statPrefix = config.stat_prefix ?? listenerName(config);
  const accessLoggers: AccessLogger[] = (config.access_log ?? []).map((l) =>
    registries.accessLoggers
      .lookup(l.name, l.typed_config?.['@type'] as string | undefined)!
      .create(l.typed_config, { ...networkContext, statPrefix }),
  );
  const entries = config.filter_chains.map((c, i) => ({
    chain: buildChain(
      c,
      c.name ?? `filter_chains[${i}]`,
      `${where}.filter_chains[${i}]`,
      networkContext,
      scope,
      accessLoggers,
    ),
    match: c.filter_chain_match,
  }));
  const fallback =
    config.default_filter_chain === undefined
      ? null
      : buildChain(
          config.default_filter_chain,
          config.default_filter_chain.name ?? 'default_filter_chain',
          `${where}.default_filter_chain`,
          networkContext,
          scope,
          accessLoggers,
        );
  const listenerFilters: ListenerFilter[] = (config.listener_filters ?? []).map((f) =>
    registries.listenerFilters
      .lookup(f.name, f.typed_config?.['@type'] as string | undefined)!
      .create(f.typed_config, listenerContext),
  );
  const chains = entries.map((e) => e.chain);
  if (fallback !== null) chains.push(fallback);
  return {
    statsScope,
    accessLoggers,
    chains,
    matcher: new FilterChainMatcher(entries, fallback),
    listenerFilters: {
      filters: listenerFilters,
      timeoutMs: durationMs(config.listener_filters_timeout, DEFAULT_LISTENER_FILTERS_TIMEOUT_MS),
      continueOnTimeout: config.continue_on_listener_filters_timeout === true,
      maxReadBytes: Math.max(1, ...listenerFilters.map((f) => f.maxReadBytes)),
    },
  };
}

function buildChain(
  chain: ChainConfig,
  name: string,
  field: string,
  context: NetworkFilterContext,
  scope: () => Scope,
  accessLoggers: readonly AccessLogger[],
): FilterChain {
  const readFilters: NetworkReadFilter[] = [];
  let terminal: NetworkFilter | null = null;
  for (const f of chain.filters) {
    const product = registries.networkFilters
      .lookup(f.name, f.typed_config?.['@type'] as string | undefined)!
      .create(f.typed_config, context);
    if (isNetworkReadFilter(product)) readFilters.push(product);
    else terminal = product;
  }
  // The schema refuses a chain whose last filter is not terminal, or with a terminal one earlier.
  const transport = downstreamTransportSocketFactory(
    chain.transport_socket,
    `${field}.transport_socket`,
    context,
    scope,
  );
  return new FilterChain(name, readFilters, terminal!, transport, accessLoggers);
}
