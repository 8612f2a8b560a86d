// `istio.stats`: Istio's standard request metrics plus HTTP metadata exchange, as one HTTP
// filter. The reporter follows the listener: INBOUND → destination, OUTBOUND (and gateways
// unless `reporter: SERVER_GATEWAY`) → source. Peer metadata headers are stripped before the
// application sees them, in both directions.
import { z } from 'zod';
import { registries, type HttpFilterContext } from '../../core/extension-points.js';
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterFactory,
} from '../../core/http/filter.js';
import type { HeaderMap } from '../../core/http/headers.js';
import type { StreamInfo } from '../../core/stream-info.js';
import { defineExtension } from '../../core/registry.js';
import { durationSchema } from '../../api/duration.js';
import { IstioMetrics, type Reporter } from './metrics.js';
import {
  encodePeerMetadata,
  localIdentity,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  PeerMetadataDecoder,
  type WorkloadIdentity,
} from './peer-metadata.js';

export const TYPE_URL = 'type.googleapis.com/stats.PluginConfig';

const bounds = z
  .array(z.number().positive())
  .min(1)
  .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: 'buckets must be strictly increasing' });

/** Istio's stats PluginConfig, shared by the HTTP filter and the TCP (network) filter. */
export const configSchema = z
  .object({
    '@type': z.literal(TYPE_URL).optional(),
    reporter: z.enum(['UNSPECIFIED', 'SERVER_GATEWAY']).optional(),
    disable_host_header_fallback: z.boolean().optional(),
    /** How often a TCP connection's metrics are reported while it lives (Istio's default 15s). */
    tcp_reporting_duration: durationSchema.optional(),
    /** Envoy's stats_config.histogram_bucket_settings shape, scoped to the Istio histograms. */
    histogram_bucket_settings: z
      .array(z.object({ match: z.object({ prefix: z.string().min(1) }).strict(), buckets: bounds }).strict())
      .optional(),
  })
  .strict();

interface Shared {
  readonly metrics: IstioMetrics;
  readonly reporter: Reporter;
  readonly ownMetadata: string;
  readonly ownId: string;
  readonly decoder: PeerMetadataDecoder;
}

/**
 * One object per stream, both the decoder and the encoder (the connection manager then calls
 * its onDestroy once). The inbound side answers with its own identity only to a peer that
 * announced itself, header by header, as Istio's metadata exchange does: a client without a
 * sidecar gets no mesh-internal headers.
 */
class IstioStatsFilter implements StreamFilter, StreamDecoderFilter, StreamEncoderFilter {
  readonly #shared: Shared;
  #peer: WorkloadIdentity | null = null;
  #grpc = false;
  #answerMetadata = false;
  #answerId = false;

  constructor(shared: Shared) {
    this.#shared = shared;
  }

  get decoder(): StreamDecoderFilter {
    return this;
  }

  get encoder(): StreamEncoderFilter {
    return this;
  }

  decodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const shared = this.#shared;
    const ct = headers.get('content-type');
    this.#grpc = ct?.startsWith('application/grpc') === true;
    if (shared.reporter === 'destination') {
      const value = headers.get(PEER_METADATA_HEADER);
      const id = headers.get(PEER_METADATA_ID_HEADER);
      this.#answerMetadata = value !== undefined && value !== '';
      this.#answerId = id !== undefined && id !== '';
      if (value !== undefined) headers.remove(PEER_METADATA_HEADER);
      if (id !== undefined) headers.remove(PEER_METADATA_ID_HEADER);
      this.#peer = value === undefined ? null : shared.decoder.decode(value);
    } else {
      // Never forward an identity the application (or a client) made up.
      headers.remove(PEER_METADATA_HEADER);
      headers.set(PEER_METADATA_HEADER, shared.ownMetadata);
      headers.set(PEER_METADATA_ID_HEADER, shared.ownId);
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    const shared = this.#shared;
    if (shared.reporter === 'source') {
      const value = headers.get(PEER_METADATA_HEADER);
      if (value !== undefined) {
        headers.remove(PEER_METADATA_HEADER);
        headers.remove(PEER_METADATA_ID_HEADER);
        this.#peer = shared.decoder.decode(value);
      }
    } else {
      if (this.#answerMetadata) headers.set(PEER_METADATA_HEADER, shared.ownMetadata);
      if (this.#answerId) headers.set(PEER_METADATA_ID_HEADER, shared.ownId);
    }
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onDestroy(): void {
    // Nothing to release; the metrics are recorded by log(), after the response has left.
  }

  /** Istio records a request's metrics at its access-log time (its stats filter is a log handler). */
  log(info: StreamInfo): void {
    this.#shared.metrics.record(info, this.#peer, this.#grpc);
  }
}

function bucketsFor(
  settings: Array<{ match: { prefix: string }; buckets: number[] }> | undefined,
  name: string,
): number[] | undefined {
  return settings?.find((s) => name.startsWith(s.match.prefix))?.buckets;
}

registries.httpFilters.register(
  defineExtension({
    name: 'istio.stats',
    typeUrls: [TYPE_URL],
    configSchema,
    create(config, context: HttpFilterContext): StreamFilterFactory {
      const direction = context.trafficDirection ?? 'UNSPECIFIED';
      const reporter: Reporter =
        direction === 'INBOUND' || config.reporter === 'SERVER_GATEWAY' ? 'destination' : 'source';
      const local = localIdentity(context.node);
      const metrics = new IstioMetrics(context.stats, reporter, local, {
        duration: bucketsFor(config.histogram_bucket_settings, 'istio_request_duration_milliseconds'),
        bytes: bucketsFor(config.histogram_bucket_settings, 'istio_request_bytes'),
      });
      const shared: Shared = {
        metrics,
        reporter,
        ownMetadata: encodePeerMetadata(local),
        ownId: context.node.id,
        decoder: new PeerMetadataDecoder(),
      };
      return () => new IstioStatsFilter(shared);
    },
  }),
);
