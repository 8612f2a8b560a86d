// `admin.access_log`: each admin request is logged, as Envoy logs its admin listener's
// requests, through the same access-logger extensions (file, stdout, stderr) and formats the
// data path uses; the request becomes a StreamInfo with the facts an admin request has.
import { registries, type AccessLogger, type ExtensionContext } from '../core/extension-points.js';
import { HeaderMap } from '../core/http/headers.js';
import { StreamInfo } from '../core/stream-info.js';

export interface AdminAccessLogConfig {
  readonly name: string;
  readonly typed_config?: Record<string, unknown>;
}

export interface AdminRequestRecord {
  readonly startTime: number;
  readonly startMonotonic: number;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly userAgent: string | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly status: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

/** Builds the loggers; returns the function the admin server calls once per answered request. */
export function adminAccessLog(
  configs: readonly AdminAccessLogConfig[],
  context: ExtensionContext,
): (r: AdminRequestRecord) => void {
  const loggers: AccessLogger[] = configs.map((l) =>
    registries.accessLoggers
      .lookup(l.name, l.typed_config?.['@type'] as string | undefined)!
      .create(l.typed_config, { ...context, statPrefix: 'admin' }),
  );
  return (r) => {
    const info = new StreamInfo('admin', r.remoteAddress, r.remotePort, r.localAddress, r.localPort);
    const headers = new HeaderMap();
    headers.add(':method', r.method);
    headers.add(':path', r.path);
    headers.add(':authority', r.authority);
    if (r.userAgent !== undefined) headers.add('user-agent', r.userAgent);
    info.requestHeaders = headers;
    info.responseCode = r.status;
    info.responseCodeDetails = 'admin_filter_response';
    info.bytesReceived = r.bytesReceived;
    info.bytesSent = r.bytesSent;
    info.durationMs = performance.now() - r.startMonotonic;
    for (const l of loggers) l.log(info);
  };
}
