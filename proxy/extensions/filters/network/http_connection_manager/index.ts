// envoy.filters.network.http_connection_manager: validates the HCM config (schema in
// proxy/api/schema.ts) and builds one HttpConnectionManager per listener per worker:
// compiled route table, HTTP filter factories, access loggers and tracer from the registries.
import { defineExtension } from '../../../../core/registry.js';
import {
  registries,
  type AccessLogger,
  type NetworkFilterContext,
  type Tracer,
  type TracingSettings,
} from '../../../../core/extension-points.js';
import { HCM_TYPE_URL, httpConnectionManagerSchema, unwrap } from '../../../../api/schema.js';
import { durationMs } from '../../../../api/duration.js';
import { boolOf } from '../../../../api/tls.js';
import { HttpConnectionManager, type HcmSettings } from '../../../../core/http/conn-manager.js';
import { HcmStats } from '../../../../core/http/hcm-stats.js';
import { RouteTable } from '../../../../core/router/route-table.js';
import type { StreamFilterFactory } from '../../../../core/http/filter.js';

export interface HcmListenerContext extends NetworkFilterContext {
  readonly listenerPort: number;
  readonly bufferLimitBytes: number;
}

registries.networkFilters.register(
  defineExtension({
    name: 'envoy.filters.network.http_connection_manager',
    typeUrls: [HCM_TYPE_URL],
    configSchema: httpConnectionManagerSchema,
    terminal: true,
    create(cfg, context: NetworkFilterContext): HttpConnectionManager {
      const ctx = context as HcmListenerContext;
      const settings: HcmSettings = {
        statPrefix: cfg.stat_prefix,
        generateRequestId: cfg.generate_request_id !== false,
        preserveExternalRequestId: cfg.preserve_external_request_id === true,
        useRemoteAddress: cfg.use_remote_address === true,
        xffNumTrustedHops: cfg.xff_num_trusted_hops ?? 0,
        skipXffAppend: cfg.skip_xff_append === true,
        xfcc: {
          mode: cfg.forward_client_cert_details ?? 'SANITIZE',
          subject: boolOf(cfg.set_current_client_cert_details?.subject, false),
          cert: cfg.set_current_client_cert_details?.cert === true,
          dns: cfg.set_current_client_cert_details?.dns === true,
          uri: cfg.set_current_client_cert_details?.uri === true,
        },
        userAgent:
          (typeof cfg.add_user_agent === 'object' ? cfg.add_user_agent.value : cfg.add_user_agent) === true
            ? { cluster: context.node.cluster, node: context.node.id }
            : null,
        serverName: cfg.server_name ?? 'envoy',
        serverHeaderTransformation: cfg.server_header_transformation ?? 'OVERWRITE',
        idleTimeoutMs: durationMs(cfg.common_http_protocol_options?.idle_timeout, 3_600_000),
        requestHeadersTimeoutMs: durationMs(cfg.request_headers_timeout, 0),
        maxRequestHeadersBytes: unwrap(cfg.max_request_headers_kb, 60) * 1024,
        maxHeadersCount: unwrap(cfg.common_http_protocol_options?.max_headers_count, 100),
        acceptHttp10: cfg.http_protocol_options?.accept_http_10 === true,
        enableTrailers: cfg.http_protocol_options?.enable_trailers === true,
        defaultHostForHttp10: cfg.http_protocol_options?.default_host_for_http_10 ?? '',
        upgrades: new Map((cfg.upgrade_configs ?? []).map((u) => [u.upgrade_type.toLowerCase(), u.enabled !== false])),
        normalizePath: cfg.normalize_path === true,
        proxy100Continue: cfg.proxy_100_continue === true,
        mergeSlashes: cfg.merge_slashes === true,
        bufferLimitBytes: ctx.bufferLimitBytes,
        streamIdleTimeoutMs: durationMs(cfg.stream_idle_timeout, 300_000),
        requestTimeoutMs: durationMs(cfg.request_timeout, 0),
        codecType: cfg.codec_type ?? 'AUTO',
        http2: {
          // Envoy's defaults: 2^31-1 streams, 256 MiB windows.
          maxConcurrentStreams: unwrap(cfg.http2_protocol_options?.max_concurrent_streams, 2147483647),
          initialStreamWindowSize: unwrap(cfg.http2_protocol_options?.initial_stream_window_size, 268435456),
          initialConnectionWindowSize: unwrap(cfg.http2_protocol_options?.initial_connection_window_size, 268435456),
          maxRequestHeadersBytes: unwrap(cfg.max_request_headers_kb, 60) * 1024,
          maxHeadersCount: unwrap(cfg.common_http_protocol_options?.max_headers_count, 100),
          maxConsecutiveInboundFramesWithEmptyPayload: unwrap(
            cfg.http2_protocol_options?.max_consecutive_inbound_frames_with_empty_payload,
            1,
          ),
          streamIdleTimeoutMs: durationMs(cfg.stream_idle_timeout, 300_000),
          runtime: context.runtime,
          connectionBufferLimitBytes: ctx.bufferLimitBytes,
          maxInboundPriorityFramesPerStream: unwrap(
            cfg.http2_protocol_options?.max_inbound_priority_frames_per_stream,
            100,
          ),
          maxOutboundFrames: unwrap(cfg.http2_protocol_options?.max_outbound_frames, 10000),
          maxOutboundControlFrames: unwrap(cfg.http2_protocol_options?.max_outbound_control_frames, 1000),
          allowConnect: cfg.http2_protocol_options?.allow_connect === true,
        },
      };
      const routeTable = new RouteTable(
        cfg.route_config!,
        {
          stripAnyHostPort: cfg.strip_any_host_port === true,
          stripMatchingPort: cfg.strip_matching_host_port === true ? ctx.listenerPort : null,
        },
        context.runtime,
      );
      const filterContext = { ...context, statPrefix: cfg.stat_prefix, clusterManager: context.clusterManager };
      const factories: StreamFilterFactory[] = [];
      for (const f of cfg.http_filters ?? []) {
        if (f.disabled === true) continue;
        const ext = registries.httpFilters.lookup(f.name, f.typed_config?.['@type'] as string | undefined);
        // Only an is_optional filter passes validation unresolved: Envoy leaves it out of the chain.
        if (ext === undefined) continue;
        factories.push(ext.create(f.typed_config, filterContext));
      }
      const loggers: AccessLogger[] = (cfg.access_log ?? []).map((l) =>
        registries.accessLoggers
          .lookup(l.name, l.typed_config?.['@type'] as string | undefined)!
          .create(l.typed_config, { ...context, statPrefix: cfg.stat_prefix }),
      );
      let tracer: Tracer | null = null;
      const provider = cfg.tracing?.provider;
      if (provider !== undefined) {
        const t = cfg.tracing!;
        const tracing: TracingSettings = {
          randomSamplingPercent: t.random_sampling?.value ?? 100,
          clientSamplingPercent: t.client_sampling?.value ?? 100,
          overallSamplingPercent: t.overall_sampling?.value ?? 100,
          verbose: t.verbose === true,
          maxPathTagLength: unwrap(t.max_path_tag_length, 256),
          spawnUpstreamSpan: t.spawn_upstream_span === true,
          customTags: t.custom_tags ?? [],
        };
        tracer = registries.tracers
          .lookup(provider.name, provider.typed_config?.['@type'] as string | undefined)!
          .create(provider.typed_config, { ...context, tracing, statPrefix: cfg.stat_prefix });
      }
      return new HttpConnectionManager(
        settings,
        new HcmStats(context.stats, cfg.stat_prefix),
        routeTable,
        factories,
        loggers,
        tracer,
      );
    },
  }),
);
