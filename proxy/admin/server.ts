// The admin HTTP server. It routes and renders only; everything it shows comes from the
// `AdminTarget` the proxy's main process implements. Endpoints that change the server
// (`mutating`) accept POST only and answer any other method with 405, as Envoy does, so a
// stray GET from a browser or crawler never drains or stops a proxy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  compileStatsFilter,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  StatsError,
  type StatsQuery,
  type StatsTypeFilter,
} from '../stats/index.js';
import { renderClustersJson, renderClustersText, renderListenersJson, renderListenersText } from './clusters.js';
import type { AdminRequestRecord } from './access-log.js';
import { selectConfigDump } from './config-dump.js';
import { registerDiagnosticHandlers } from './diagnostics.js';
import { renderServerInfo } from './server-info.js';
import { AdminDuplicateHandlerError, AdminInvalidPathError, AdminListenError } from './errors.js';
import type { AdminHandler, AdminHandlerRegistry, AdminRequest, AdminResponse, AdminTarget } from './types.js';

export interface AdminLogger {
  info(message: string): void;
  error(message: string): void;
}

export interface AdminServerOptions {
  /** Where to listen; port 0 picks an ephemeral port (read it back from `address()`). */
  address: { host: string; port: number };
  target: AdminTarget;
  logger?: AdminLogger;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Called once per answered request (`admin.access_log`, see access-log.ts). */
  accessLog?: (record: AdminRequestRecord) => void;
}

export interface AdminServer extends AdminHandlerRegistry {
  /** The bound address. */
  address(): { host: string; port: number };
  /** Stops accepting and closes every open admin connection. */
  close(): Promise<void>;
}

interface Entry {
  help: string;
  mutating: boolean;
  handler: AdminHandler;
}

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';
const PROMETHEUS = 'text/plain; version=0.0.4; charset=UTF-8';
const STATS_TYPES: readonly StatsTypeFilter[] = ['All', 'Counters', 'Gauges', 'Histograms'];

function text(status: number, body: string): AdminResponse {
  return { status, contentType: TEXT, body };
}

function json(body: string): AdminResponse {
  return { status: 200, contentType: JSON_TYPE, body };
}

function statsQuery(query: URLSearchParams): StatsQuery | AdminResponse {
  const q: StatsQuery = { usedOnly: query.has('usedonly') };
  const filter = query.get('filter');
  if (filter !== null && filter !== '') {
    try {
      q.filter = compileStatsFilter(filter);
    } catch (err) {
      if (err instanceof StatsError) return text(400, `${err.message}\n`);
      throw err;
    }
  }
  const type = query.get('type');
  if (type !== null) {
    const t = STATS_TYPES.find((s) => s === type);
    if (t === undefined) return text(400, `invalid type '${type}': expected one of ${STATS_TYPES.join(', ')}\n`);
    q.type = t;
  }
  return q;
}

function isResponse(v: StatsQuery | AdminResponse): v is AdminResponse {
  return 'status' in v;
}

class AdminServerImpl implements AdminServer {
  readonly #target: AdminTarget;
  readonly #logger: AdminLogger | undefined;
  readonly #maxBodyBytes: number;
  readonly #accessLog: ((record: AdminRequestRecord) => void) | undefined;
  readonly #handlers = new Map<string, Entry>();
  readonly #server: Server;
  #healthCheckFailed = false;

  constructor(options: AdminServerOptions) {
    this.#target = options.target;
    this.#logger = options.logger;
    this.#maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.#accessLog = options.accessLog;
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#registerBuiltins();
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new AdminListenError(host, port, err.message));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  addHandler(path: string, help: string, mutating: boolean, handler: AdminHandler): void {
    if (!path.startsWith('/')) throw new AdminInvalidPathError(path);
    if (this.#handlers.has(path)) throw new AdminDuplicateHandlerError(path);
    this.#handlers.set(path, { help, mutating, handler });
  }

  #helpText(): string {
    const paths = [...this.#handlers.keys()].sort();
    return `admin commands are:\n${paths.map((p) => `  ${p}: ${this.#handlers.get(p)!.help}\n`).join('')}`;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#accessLog !== undefined) this.#logWhenDone(req, res, this.#accessLog);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.#maxBodyBytes) {
        tooLarge = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        this.#send(res, text(413, `request body larger than ${this.#maxBodyBytes} bytes\n`), req.method ?? 'GET');
        return;
      }
      void this.#dispatch(req, Buffer.concat(chunks)).then((r) => {
        this.#send(res, r, req.method ?? 'GET');
        if (r === QUIT_RESPONSE) res.once('finish', () => this.#target.quit());
      });
    });
  }

  #logWhenDone(req: IncomingMessage, res: ServerResponse, log: (record: AdminRequestRecord) => void): void {
    const startTime = Date.now();
    const startMonotonic = performance.now();
    let bytesReceived = 0;
    req.on('data', (chunk: Buffer) => (bytesReceived += chunk.length));
    res.once('finish', () => {
      const s = req.socket;
      log({
        startTime,
        startMonotonic,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        authority: req.headers.host ?? '',
        userAgent: req.headers['user-agent'],
        remoteAddress: s.remoteAddress ?? '',
        remotePort: s.remotePort ?? 0,
        localAddress: s.localAddress ?? '',
        localPort: s.localPort ?? 0,
        status: res.statusCode,
        bytesReceived,
        bytesSent: Number(res.getHeader('content-length') ?? 0),
      });
    });
  }

  #send(res: ServerResponse, r: AdminResponse, method: string): void {
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    res.statusCode = r.status;
    res.setHeader('content-type', r.contentType);
    res.setHeader('content-length', body.length);
    res.setHeader('cache-control', 'no-cache, max-age=0');
    res.setHeader('x-content-type-options', 'nosniff');
    if (r.status === 405) res.setHeader('allow', 'POST');
    res.end(method === 'HEAD' ? undefined : body);
  }

  async #dispatch(req: IncomingMessage, body: Buffer): Promise<AdminResponse> {
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return text(400, `malformed request target '${req.url ?? ''}'\n`);
    }
    const entry = this.#handlers.get(url.pathname);
    if (entry === undefined) return text(404, `invalid path. ${this.#helpText()}`);
    if (entry.mutating && method !== 'POST') {
      return text(405, `Method ${method} not allowed, POST required.\n`);
    }
    if (!entry.mutating && method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
      return text(405, `Method ${method} not allowed.\n`);
    }
    const request: AdminRequest = { method, path: url.pathname, query: url.searchParams, body };
    try {
      return await entry.handler(request);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#logger?.error(`admin ${method} ${url.pathname} failed: ${message}`);
      return text(500, `${message}\n`);
    }
  }

  #registerBuiltins(): void {
    const t = this.#target;
    this.addHandler('/', 'Admin home page', false, () => text(200, this.#helpText()));
    this.addHandler('/help', 'print out list of admin commands', false, () => text(200, this.#helpText()));
    this.addHandler('/ready', 'print server state, return 200 if LIVE, otherwise return 503', false, () => {
      const state = this.#currentState();
      return text(state === 'LIVE' ? 200 : 503, `${state}\n`);
    });
    this.addHandler('/server_info', 'print server version/status information', false, () =>
      json(renderServerInfo(t.serverInfo(), this.#currentState())),
    );
    this.addHandler('/stats', 'print server stats', false, async (r) => {
      const q = statsQuery(r.query);
      if (isResponse(q)) return q;
      const format = r.query.get('format');
      const snapshot = await t.stats();
      if (format === 'json') return json(renderStatsJson(snapshot, q));
      if (format === 'prometheus') return { status: 200, contentType: PROMETHEUS, body: renderPrometheus(snapshot, q) };
      if (format !== null && format !== 'text')
        return text(400, `invalid format '${format}': expected text, json or prometheus\n`);
      return text(200, renderStatsText(snapshot, q));
    });
    this.addHandler('/stats/prometheus', 'print server stats in prometheus format', false, async (r) => {
      const q = statsQuery(r.query);
      if (isResponse(q)) return q;
      return { status: 200, contentType: PROMETHEUS, body: renderPrometheus(await t.stats(), q) };
    });
    this.addHandler('/clusters', 'upstream cluster status', false, async (r) => {
      const clusters = await t.clusters();
      return r.query.get('format') === 'json'
        ? json(renderClustersJson(clusters))
        : text(200, renderClustersText(clusters));
    });
    this.addHandler('/certs', 'print certs on machine', false, async () =>
      json(JSON.stringify((await t.certs?.()) ?? { certificates: [] }, null, 1)),
    );
    this.addHandler('/listeners', 'print listener info', false, (r) => {
      const listeners = t.listeners();
      return r.query.get('format') === 'json'
        ? json(renderListenersJson(listeners))
        : text(200, renderListenersText(listeners));
    });
    this.addHandler('/config_dump', 'dump current Envoy configs (?resource=, ?include_eds)', false, async (r) => {
      const dump = (await t.configDump()) as { configs: Array<Record<string, unknown>> };
      const selected = selectConfigDump(dump, {
        includeEds: r.query.has('include_eds'),
        resource: r.query.get('resource'),
      });
      return selected.ok ? json(JSON.stringify(selected.body, null, 1)) : text(404, `${selected.message}\n`);
    });
    this.addHandler('/healthcheck/fail', 'cause the server to fail health checks', true, async () => {
      this.#healthCheckFailed = true;
      await t.setHealthCheckFailed(true);
      return text(200, 'OK\n');
    });
    this.addHandler('/healthcheck/ok', 'cause the server to pass health checks', true, async () => {
      this.#healthCheckFailed = false;
      await t.setHealthCheckFailed(false);
      return text(200, 'OK\n');
    });
    this.addHandler('/drain_listeners', 'drain listeners (?inboundonly, ?graceful)', true, async (r) => {
      await t.drainListeners({ inboundOnly: r.query.has('inboundonly'), graceful: r.query.has('graceful') });
      return text(200, 'OK\n');
    });
    this.addHandler('/reset_counters', 'reset all counters to zero', true, async () => {
      await t.resetCounters();
      return text(200, 'OK\n');
    });
    this.addHandler('/quitquitquit', 'exit the server', true, () => QUIT_RESPONSE);
    registerDiagnosticHandlers(this, t, () => this.#currentState());
  }

  /** Envoy reports DRAINING while health checks are failed. */
  #currentState(): string {
    const state = this.#target.serverInfo().state;
    return state === 'LIVE' && this.#healthCheckFailed ? 'DRAINING' : state;
  }
}

/** The one response object after which the server asks the target to quit. */
const QUIT_RESPONSE: AdminResponse = Object.freeze({ status: 200, contentType: TEXT, body: 'OK\n' });

/** Starts the admin server on `options.address`; resolves once it is listening. */
export async function createAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = new AdminServerImpl(options);
  await server.listen(options.address.host, options.address.port);
  options.logger?.info(`admin server listening on ${options.address.host}:${server.address().port}`);
  return server;
}
