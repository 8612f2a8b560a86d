// The telemetry pieces shared by the tracers, access loggers and the Istio stats filter.
// Importing this module registers `istio.stats`.
import './istio/filter.js';
export {
  localIdentity,
  encodePeerMetadata,
  PeerMetadataDecoder,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  type WorkloadIdentity,
} from './istio/peer-metadata.js';
export { IstioMetrics, type Reporter } from './istio/metrics.js';
export {
  compileFormat,
  TextFormatter,
  CompiledJson,
  DEFAULT_ACCESS_LOG_FORMAT,
  FormatError,
  type LineFormatter,
} from './substitution-format.js';
export { LogSink, logSinkStats } from './log-sink.js';
export { collectorUrl, CollectorClusterError, type ClusterLookup } from './collector.js';
