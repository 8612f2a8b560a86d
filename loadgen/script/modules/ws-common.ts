// What k6/ws and k6/websockets share: the `ws` package loaded on first use, the handshake, and
// k6's WebSocket metrics (ws_connecting, ws_sessions, ws_session_duration, ws_msgs_sent,
// ws_msgs_received, ws_ping) with k6's tags (url, status, subproto).
import { createRequire } from 'node:module';
import type * as WsModule from 'ws';
import type { Metric } from '../../metrics/registry.js';
import type { TestContext, VuState } from '../context.js';
import { type CookieJar, STORE } from './http-extras.js';

let wsModule: typeof WsModule | undefined;

export function wsPackage(): typeof WsModule {
  wsModule ??= createRequire(import.meta.url)('ws') as typeof WsModule;
  return wsModule;
}

export interface WsMetrics {
  readonly connecting: Metric;
  readonly sessions: Metric;
  readonly sessionDuration: Metric;
  readonly msgsSent: Metric;
  readonly msgsReceived: Metric;
  readonly ping: Metric;
}

export function wsMetrics(test: TestContext): WsMetrics {
  const r = test.registry;
  return {
    connecting: r.get('ws_connecting', 'trend', 'time'),
    sessions: r.get('ws_sessions', 'counter'),
    sessionDuration: r.get('ws_session_duration', 'trend', 'time'),
    msgsSent: r.get('ws_msgs_sent', 'counter'),
    msgsReceived: r.get('ws_msgs_received', 'counter'),
    ping: r.get('ws_ping', 'trend', 'time'),
  };
}

export interface WsParams {
  headers?: Record<string, string>;
  compression?: string;
  tags?: Record<string, string | number | boolean>;
  /** The jar whose cookies go with the handshake (default: the VU's). */
  jar?: CookieJar;
}

/** The Cookie header for a handshake: the jar's cookies for the URL as http(s), as k6 sends them. */
function cookieHeader(vu: VuState, url: string, params: WsParams | null | undefined): string | undefined {
  const jar = params?.jar?.[STORE] ?? vu.cookies;
  if (jar.size === 0) return undefined;
  const cookies = jar.forUrl(new URL(url.replace(/^ws/, 'http')));
  return cookies.length === 0 ? undefined : cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

export interface Handshake {
  status: number;
  headers: Record<string, string>;
  /** Tags for every sample of this session. */
  tags: Record<string, string>;
}

/** The session's tags: the VU's, then url and the user's. */
export function sessionTags(vu: VuState, url: string, params: WsParams | null | undefined): Record<string, string> {
  const tags: Record<string, string> = { ...vu.tags, url };
  if (params?.tags) for (const [k, v] of Object.entries(params.tags)) tags[k] = String(v);
  return tags;
}

/** Opens a WebSocket with the params k6 takes; the socket is returned before its handshake completes. */
export function openSocket(
  vu: VuState,
  url: string,
  params: WsParams | null | undefined,
  protocols?: string | string[],
): WsModule.WebSocket {
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url))
    throw new Error(`websocket: the url must start with ws:// or wss://, got '${String(url)}'`);
  if (params?.compression !== undefined && params.compression !== '' && params.compression !== 'deflate')
    throw new Error(`websocket: unsupported compression '${params.compression}' (deflate)`);
  const Ws = wsPackage().WebSocket;
  const cookie = cookieHeader(vu, url, params);
  const headers = cookie === undefined ? params?.headers : { Cookie: cookie, ...params?.headers };
  return new Ws(url, protocols ?? [], {
    headers,
    perMessageDeflate: params?.compression === 'deflate',
  });
}

/**
 * Waits for the handshake and records ws_connecting and ws_sessions. Resolves with the upgrade
 * response; rejects with k6's message when the server refuses or cannot be reached.
 */
export function handshake(
  socket: WsModule.WebSocket,
  url: string,
  tags: Record<string, string>,
  metrics: WsMetrics,
): Promise<Handshake> {
  const start = performance.now();
  return new Promise<Handshake>((resolve, reject) => {
    let status = 0;
    let headers: Record<string, string> = {};
    socket.once('upgrade', (res) => {
      status = res.statusCode ?? 101;
      headers = {};
      for (let i = 0; i < res.rawHeaders.length; i += 2) headers[res.rawHeaders[i]!] = res.rawHeaders[i + 1]!;
    });
    socket.once('unexpected-response', (_req, res) => {
      socket.terminate();
      reject(new Error(`websocket: bad handshake: ${url} answered ${res.statusCode}`));
    });
    socket.once('error', (err) => reject(new Error(`websocket: ${err.message}`)));
    socket.once('open', () => {
      socket.removeAllListeners('error');
      const t = { ...tags, status: String(status), subproto: socket.protocol };
      metrics.connecting.add(performance.now() - start, t);
      metrics.sessions.add(1, t);
      resolve({ status, headers, tags: t });
    });
  });
}
