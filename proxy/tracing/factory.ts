// What both tracer extensions share: turning the HCM's tracing settings and the extension's
// exporter into a MeshTracer, wiring stats and shutdown, and `%TRACE_ID%` for access logs.
import type { TracerContext } from '../core/extension-points.js';
import { localIdentity } from '../telemetry/istio/peer-metadata.js';
import { setTraceIdReader } from '../telemetry/substitution-format.js';
import type { ClusterLookup } from '../telemetry/collector.js';
import type { SamplingRuntime } from './sampling.js';
import type { ExporterSpec } from './exporter-spec.js';
import { sharedSpanPipeline, spanPipelineStats } from './span-pipeline.js';
import { TraceFormat } from './trace-context.js';
import { MeshTracer, streamSpanContext, type CustomTag } from './tracer.js';

setTraceIdReader((info) => streamSpanContext(info.activeSpan)?.traceId ?? null);

/**
 * The propagation format each tracer injects upstream, as Envoy's do: its OpenTelemetry tracer
 * writes W3C `traceparent` (and `tracestate`) only, its Zipkin tracer B3 multi (`x-b3-*`) only
 * (trace_context_option USE_B3, the default). A request that arrived with another format still
 * gets that one too (MeshTracer adds the arrived format), so a caller's own propagation keeps
 * its ids. Injecting both everywhere had sent four x-b3 headers (~96 bytes) more per
 * upstream request with OpenTelemetry tracing, for every upstream to parse.
 */
const INJECT_FORMATS: Record<'opentelemetry' | 'zipkin', number> = {
  opentelemetry: TraceFormat.W3C,
  zipkin: TraceFormat.B3Multi,
};

/** Fields the worker puts on every listener-scoped context beyond TracerContext's own. */
export type TracerFactoryContext = TracerContext & {
  readonly clusterManager?: ClusterLookup;
  readonly runtime?: SamplingRuntime;
};

export function buildMeshTracer(
  context: TracerFactoryContext,
  provider: 'opentelemetry' | 'zipkin',
  serviceName: string | undefined,
  exporter: ExporterSpec,
): MeshTracer {
  const stats = spanPipelineStats(context.stats.scope(`tracing.${provider}`));
  const service = serviceName !== undefined && serviceName !== '' ? serviceName : context.node.cluster || 'meshscope';
  // The workload's version (Istio's canonical revision or `version` label) is the resource's
  // service.version, so the service graph can draw each version of a service (as Kiali does).
  const { version } = localIdentity(context.node);
  const resource: Record<string, string> = { 'service.name': service, 'service.instance.id': context.node.id };
  if (version !== 'unknown') resource['service.version'] = version;
  const pipeline = sharedSpanPipeline(exporter, resource, stats);
  context.onShutdown(() => pipeline.shutdown());
  const t = context.tracing;
  const sampling =
    context.runtime === undefined
      ? {
          randomSamplingPercent: t.randomSamplingPercent,
          clientSamplingPercent: t.clientSamplingPercent,
          overallSamplingPercent: t.overallSamplingPercent,
        }
      : {
          randomSamplingPercent: t.randomSamplingPercent,
          clientSamplingPercent: t.clientSamplingPercent,
          overallSamplingPercent: t.overallSamplingPercent,
          runtime: context.runtime,
        };
  return new MeshTracer({
    nodeId: context.node.id,
    direction: context.trafficDirection ?? 'UNSPECIFIED',
    injectFormats: INJECT_FORMATS[provider],
    sampling,
    spawnUpstreamSpan: t.spawnUpstreamSpan,
    maxPathTagLength: t.maxPathTagLength,
    // Environment values are fixed for the process: resolve them now, as Envoy does.
    customTags: t.customTags.map((c): CustomTag => {
      if (c.literal !== undefined) return { tag: c.tag, kind: 'literal', value: c.literal.value };
      if (c.environment !== undefined)
        return {
          tag: c.tag,
          kind: 'literal',
          value: process.env[c.environment.name] ?? c.environment.default_value ?? '',
        };
      return {
        tag: c.tag,
        kind: 'request_header',
        name: c.request_header!.name.toLowerCase(),
        defaultValue: c.request_header!.default_value ?? '',
      };
    }),
    pipeline,
  });
}
