// A VU's HTTP transport: one keep-alive connection per origin (k6 VUs reuse theirs unless
// noConnectionReuse), a transparent retry when a reused connection turns out to have been closed
// by the server before it read anything (the keep-alive race every client handles), and extra
// short-lived connections for concurrent requests (http.batch). A TLS origin whose server picks h2
// gets one multiplexed HTTP/2 session instead (h2.ts), as in k6.
import { performance } from 'node:perf_hooks';
import {
  Connection,
  failedResponse,
  H2_HANDED_OVER,
  type H2Handover,
  type Origin,
  type RawResponse,
} from './connection.js';
import { ERR_GENERIC } from './error-codes.js';
import { H2Session } from './h2.js';
import type { TracedHead } from './traced-head.js';

export interface ParsedTarget {
  readonly origin: Origin;
  /** Request target: path and query. */
  readonly path: string;
  /** Host header value. */
  readonly hostHeader: string;
}

export interface TransportOptions {
  readonly noConnectionReuse: boolean;
  readonly insecureSkipTLSVerify: boolean;
  readonly connectTimeoutMs: number;
  /** k6's hosts option: host name (or *.domain) to 'address[:port]'; the Host header and SNI keep the name. */
  readonly hosts?: Readonly<Record<string, string>>;
}

/** Where `hosts` sends `host:port`: an exact name first, then the longest matching *.domain. */
export function mapHost(
  hosts: Readonly<Record<string, string>> | undefined,
  host: string,
  port: number,
): { host: string; port: number } {
  if (hosts === undefined) return { host, port };
  let to = hosts[host];
  if (to === undefined) {
    let best = -1;
    for (const k of Object.keys(hosts)) {
      if (k.startsWith('*.') && host.endsWith(k.slice(1)) && k.length > best) {
        best = k.length;
        to = hosts[k];
      }
    }
  }
  if (to === undefined) return { host, port };
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(to);
  if (m === null) return { host, port };
  const addr = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host: addr, port: m[2] === undefined ? port : Number(m[2]) };
}

const TARGET_CACHE_MAX = 1024;

export class InvalidUrlError extends Error {}

export class HttpTransport {
  readonly #opts: TransportOptions;
  readonly #idle = new Map<string, Connection>();
  // The last origin asked about and its idle connection, mirrored on every change to #idle: a VU's
  // keep-alive loop looks its connection up twice per request (to send, and to keep it idle after)
  // with the same key string, so both are one comparison instead of a hash lookup.
  #hotKey = '';
  #hotIdle: Connection | undefined;
  readonly #all = new Set<Connection>();
  readonly #targets = new Map<string, ParsedTarget>();
  readonly #forget: (c: Connection) => void;
  /** HTTP/2 sessions by origin: the TLS origins whose server picked h2 (multiplexed, so one each). */
  readonly #h2 = new Map<string, H2Session>();
  readonly #adoptH2: H2Handover;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.#adoptH2 = (origin, socket, timing) => {
      const have = this.#h2.get(origin.key);
      // Concurrent first requests (http.batch) each dialled; the first session serves them all.
      if (have?.usable) {
        socket.destroy();
        return;
      }
      const session = new H2Session(origin, socket, timing, (gone) => {
        if (this.#h2.get(gone.origin.key) === gone) this.#h2.delete(gone.origin.key);
      });
      this.#h2.set(origin.key, session);
    };
    this.#forget = (c) => {
      this.#all.delete(c);
      if (this.#idleFor(c.origin.key) === c) this.#setIdle(c.origin.key, undefined);
    };
  }

  /** Parses and caches a URL (scripts hit the same few URLs millions of times). */
  target(url: string): ParsedTarget {
    const hit = this.#targets.get(url);
    if (hit !== undefined) return hit;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new InvalidUrlError(`invalid URL '${url}'`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new InvalidUrlError(`unsupported URL scheme '${u.protocol}' in '${url}'`);
    const isTls = u.protocol === 'https:';
    const port = u.port === '' ? (isTls ? 443 : 80) : Number(u.port);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const to = mapHost(this.#opts.hosts, host, port);
    const t: ParsedTarget = {
      origin: {
        key: `${u.protocol}//${u.host}`,
        host: to.host,
        port: to.port,
        tls: isTls,
        servername: host,
        insecureSkipTLSVerify: this.#opts.insecureSkipTLSVerify,
      },
      path: `${u.pathname}${u.search}`,
      hostHeader: u.host,
    };
    if (this.#targets.size >= TARGET_CACHE_MAX) this.#targets.clear();
    this.#targets.set(url, t);
    return t;
  }

  #idleFor(key: string): Connection | undefined {
    if (key === this.#hotKey) return this.#hotIdle;
    const idle = this.#idle.get(key);
    this.#hotKey = key;
    this.#hotIdle = idle;
    return idle;
  }

  #setIdle(key: string, c: Connection | undefined): void {
    if (c === undefined) this.#idle.delete(key);
    else this.#idle.set(key, c);
    if (key === this.#hotKey) this.#hotIdle = c;
  }

  #connection(origin: Origin, exclusive: boolean): Connection {
    if (!exclusive && !this.#opts.noConnectionReuse) {
      const idle = this.#idleFor(origin.key);
      if (idle !== undefined && !idle.closed && !idle.busy) return idle;
    }
    const c = new Connection(origin, this.#opts.connectTimeoutMs, this.#forget, origin.tls ? this.#adoptH2 : null);
    this.#all.add(c);
    if (!exclusive && !this.#opts.noConnectionReuse) this.#setIdle(origin.key, c);
    return c;
  }

  /**
   * Sends one request. `exclusive` asks for a connection of its own (batch members beyond the first).
   * `done` is called once, with an error response (status 0, error, errorCode) rather than a throw,
   * from an I/O callback or, for a failure before sending, at once. There is no promise form:
   * k6/http settles a promise of the VU's realm from this callback (http-exchange.ts).
   */
  send(
    target: ParsedTarget,
    head: string | TracedHead,
    body: Buffer | null,
    isHead: boolean,
    keepBody: boolean,
    timeoutMs: number,
    exclusive: boolean,
    done: (res: RawResponse) => void,
  ): void {
    this.#send(target, head, body, isHead, keepBody, timeoutMs, exclusive, false, performance.now(), done);
  }

  // One closure per attempt (the connection's completion callback); the retry re-enters here.
  #send(
    target: ParsedTarget,
    head: string | TracedHead,
    body: Buffer | null,
    isHead: boolean,
    keepBody: boolean,
    timeoutMs: number,
    exclusive: boolean,
    retry: boolean,
    blockedSince: number,
    resolve: (res: RawResponse) => void,
  ): void {
    if (target.origin.tls && this.#h2.size !== 0) {
      const session = this.#h2.get(target.origin.key);
      if (session?.usable) {
        const done = this.#opts.noConnectionReuse
          ? (res: RawResponse): void => {
              session.close();
              resolve(res);
            }
          : resolve;
        // A stream the server refused unprocessed (REFUSED_STREAM, or cut by its GOAWAY) is sent
        // once more: on this session if it is still usable, else on a new connection.
        const again = retry
          ? null
          : () => this.#send(target, head, body, isHead, keepBody, timeoutMs, exclusive, true, blockedSince, resolve);
        session.request(
          typeof head === 'string' ? head : head.text,
          body,
          keepBody,
          timeoutMs,
          blockedSince,
          done,
          again,
        );
        return;
      }
    }
    let conn: Connection;
    try {
      conn = this.#connection(target.origin, exclusive || retry);
    } catch (err) {
      resolve(failedResponse(err instanceof Error ? err.message : String(err), ERR_GENERIC, blockedSince));
      return;
    }
    const reused = conn.served > 0;
    conn.request(head, body, isHead, keepBody, timeoutMs, blockedSince, (res) => {
      if (res.errorCode !== 0) {
        // The server picked h2 (the session adopted the socket), or a reused connection was
        // closed before it read anything: send again.
        const handedOver = res.errorCode === H2_HANDED_OVER;
        if (handedOver || (reused && !retry && conn.receivedNothing)) {
          this.#send(
            target,
            head,
            body,
            isHead,
            keepBody,
            timeoutMs,
            exclusive,
            !handedOver || retry,
            blockedSince,
            resolve,
          );
          return;
        }
      }
      if (this.#opts.noConnectionReuse || exclusive) conn.close();
      else if (!conn.closed) {
        // Keep one idle keep-alive connection per origin; one opened beside a busy one
        // (concurrent asyncRequest calls) is closed rather than left open until the VU ends.
        // Already the idle one (every request of a VU's keep-alive loop): nothing to store again.
        const idle = this.#idleFor(target.origin.key);
        if (idle !== conn) {
          if (idle === undefined || idle.closed || idle.busy) this.#setIdle(target.origin.key, conn);
          else conn.close();
        }
      }
      resolve(res);
    });
  }

  /** Drops every connection, failing in-flight requests (used when a VU is interrupted or stops). */
  closeAll(): void {
    for (const c of this.#all) c.destroy();
    this.#all.clear();
    this.#idle.clear();
    this.#hotKey = '';
    this.#hotIdle = undefined;
    for (const s of this.#h2.values()) s.destroy();
    this.#h2.clear();
  }
}
