// The proxy component's public face: load and validate an Envoy v3 bootstrap, start a proxy
// (main process + workers + admin), and the extension points other components plug into.
import { availableParallelism } from 'node:os';
import { loadBootstrap } from './config/load.js';
import { ProxyServer, type ProxyOptions } from './core/server.js';
import { createLogger, type LogLevel } from './core/logger.js';
import type { Bootstrap } from './api/schema.js';

export {
  loadBootstrap,
  loadBootstrapFile,
  validateBootstrap,
  parseConfigText,
  formatIssues,
  formatPath,
} from './config/load.js';
export { loadAllExtensions, loadExtensionsFor } from './extensions/catalog.js';
export type {
  Bootstrap,
  ClusterConfig,
  ListenerConfig,
  RouteConfiguration,
  HttpConnectionManagerConfig,
} from './api/schema.js';
export {
  bootstrapSchema,
  clusterSchema,
  listenerSchema,
  routeConfigurationSchema,
  clusterLoadAssignmentSchema,
} from './api/schema.js';
export { durationSchema, durationMs } from './api/duration.js';
export { ProxyServer, VERSION, type ProxyOptions } from './core/server.js';
export { boundYoungGeneration } from './core/young-generation.js';
export { createLogger, LOG_LEVELS, type LogLevel, type Logger } from './core/logger.js';
export { ExtensionRegistry, defineExtension, type Extension } from './core/registry.js';
export {
  registries,
  type AccessLogger,
  type AccessLoggerContext,
  type AcceptedSocket,
  type ClusterContext,
  type ClusterDiscovery,
  type ExtensionContext,
  type DownstreamConnection,
  type HttpFilterContext,
  type ListenerFilter,
  type ListenerFilterStatus,
  type ListenerInfo,
  type NetworkFilter,
  type NetworkFilterContext,
  type NetworkFilterStatus,
  type NetworkReadFilter,
  type NodeInfo,
  type Tracer,
  type TracerContext,
  type TracingSettings,
} from './core/extension-points.js';
export {
  StreamInfo,
  ResponseFlag,
  formatResponseFlags,
  type Span,
  type UpstreamAttemptInfo,
  type HttpProtocol,
} from './core/stream-info.js';
export { HeaderMap } from './core/http/headers.js';
export {
  FilterHeadersStatus,
  FilterDataStatus,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
  type StreamFilterFactory,
} from './core/http/filter.js';
export { Host, HealthFlag, type HostDescription } from './core/upstream/host.js';
export type { Cluster } from './core/upstream/cluster.js';
export type { ClusterManager } from './core/upstream/cluster-manager.js';
export {
  ProxyError,
  ConfigInvalidError,
  ConfigReadError,
  DuplicateExtensionError,
  ListenerBindError,
  WorkerError,
} from './errors.js';

export interface StartProxyOptions {
  /** A bootstrap object (validated here) or a path to a YAML/JSON file. */
  readonly config: unknown;
  readonly configPath?: string;
  readonly concurrency?: number;
  readonly drainTimeSeconds?: number;
  readonly serviceCluster?: string;
  readonly serviceNode?: string;
  readonly logLevel?: LogLevel;
  readonly commandLineOptions?: Record<string, unknown>;
  /** Node flags for forked worker processes, e.g. from `boundYoungGeneration()`. */
  readonly workerExecArgv?: readonly string[];
}

/** Validates the configuration and starts the proxy; resolves once listeners are bound. */
export async function startProxy(options: StartProxyOptions): Promise<ProxyServer> {
  const bootstrap: Bootstrap = await loadBootstrap(
    options.configPath !== undefined ? { path: options.configPath } : { config: options.config },
  );
  const opts: ProxyOptions = {
    bootstrap,
    concurrency: options.concurrency ?? availableParallelism(),
    drainTimeSeconds: options.drainTimeSeconds ?? 600,
    serviceCluster: options.serviceCluster,
    serviceNode: options.serviceNode,
    logger: createLogger(options.logLevel ?? 'info'),
    commandLineOptions: options.commandLineOptions,
    workerExecArgv: options.workerExecArgv,
  };
  return ProxyServer.start(opts);
}
