// k6/ws: ws.connect(url, params, callback) blocks the VU for the whole session, as in k6: the
// handshake, then callback(socket) to set handlers, the 'open' event, and events until the
// socket closes. A handler that throws closes the socket and connect() throws its error.
// socket.setTimeout/setInterval timers live as long as the session.
import { types } from 'node:util';
import type * as WsModule from 'ws';
import { IterationInterruptedError } from '../../errors.js';
import type { ModuleContext } from '../context.js';
import { handshake, openSocket, sessionTags, type WsMetrics, type WsParams, wsMetrics } from './ws-common.js';

type Handler = (...args: unknown[]) => unknown;

const EVENTS = new Set(['open', 'close', 'error', 'message', 'binaryMessage', 'ping', 'pong']);

class Socket {
  readonly #ws: WsModule.WebSocket;
  readonly #metrics: WsMetrics;
  readonly #tags: Record<string, string>;
  readonly #handlers = new Map<string, Handler[]>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #onError: (err: unknown) => void;
  #pingSent = 0;

  constructor(
    ws: WsModule.WebSocket,
    metrics: WsMetrics,
    tags: Record<string, string>,
    onError: (err: unknown) => void,
  ) {
    this.#ws = ws;
    this.#metrics = metrics;
    this.#tags = tags;
    this.#onError = onError;
  }

  on(event: string, handler: Handler): void {
    if (!EVENTS.has(event)) throw new Error(`ws: unknown event '${event}' (${[...EVENTS].join(', ')})`);
    if (typeof handler !== 'function') throw new Error('ws: socket.on needs a function');
    const list = this.#handlers.get(event);
    if (list === undefined) this.#handlers.set(event, [handler]);
    else list.push(handler);
  }

  send(data: string): void {
    this.#ws.send(String(data));
    this.#metrics.msgsSent.add(1, this.#tags);
  }

  sendBinary(data: ArrayBuffer | ArrayBufferView): void {
    if (!types.isAnyArrayBuffer(data) && !ArrayBuffer.isView(data))
      throw new Error('ws: sendBinary needs an ArrayBuffer');
    this.#ws.send(
      types.isAnyArrayBuffer(data) ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    );
    this.#metrics.msgsSent.add(1, this.#tags);
  }

  ping(): void {
    this.#pingSent = performance.now();
    this.#ws.ping();
  }

  close(code?: number): void {
    this.#clearTimers();
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(code ?? 1000);
  }

  setTimeout(fn: Handler, ms: number): void {
    const t = setTimeout(
      () => {
        this.#timers.delete(t);
        this.emit('timer', fn);
      },
      Math.max(0, Number(ms)),
    );
    this.#timers.add(t);
  }

  setInterval(fn: Handler, ms: number): void {
    if (!(Number(ms) > 0)) throw new Error(`ws: setInterval needs an interval > 0, got ${ms}`);
    const t = setInterval(() => this.emit('timer', fn), Number(ms));
    this.#timers.add(t);
  }

  /** Runs the handlers of an event (or one timer callback); a throw ends the session with that error. */
  emit(event: string, fn?: Handler, ...args: unknown[]): void {
    const list = fn !== undefined ? [fn] : (this.#handlers.get(event) ?? []);
    for (const h of list) {
      try {
        const r = h.apply(this, args);
        if (types.isPromise(r)) r.catch(this.#onError);
      } catch (err) {
        this.#onError(err);
        return;
      }
    }
  }

  /** Wires the ws events to k6's handlers and metrics. */
  attach(): void {
    const ws = this.#ws;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      this.#metrics.msgsReceived.add(1, this.#tags);
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary)
        this.emit('binaryMessage', undefined, buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
      else this.emit('message', undefined, buf.toString('utf8'));
    });
    ws.on('ping', () => this.emit('ping'));
    ws.on('pong', () => {
      if (this.#pingSent > 0) this.#metrics.ping.add(performance.now() - this.#pingSent, this.#tags);
      this.emit('pong');
    });
    ws.on('error', (err: Error) => this.emit('error', undefined, { error: () => err.message }));
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** The session is over: no more timers. */
  closed(): void {
    this.#clearTimers();
  }
}

export function createWsModule(ctx: ModuleContext): Record<string, unknown> {
  const { vu } = ctx;
  const metrics = wsMetrics(ctx.test);

  const connect = async (url: string, paramsOrCallback: WsParams | Handler | null, maybeCallback?: Handler) => {
    if (ctx.inInit()) throw new Error('ws: connect() is not allowed in the init context');
    const callback = typeof paramsOrCallback === 'function' ? paramsOrCallback : maybeCallback;
    const params = typeof paramsOrCallback === 'function' ? undefined : paramsOrCallback;
    if (typeof callback !== 'function') throw new Error('ws: connect() needs a callback function');
    if (vu.interrupted) throw new IterationInterruptedError();
    const ws = openSocket(vu, url, params);
    const tags = sessionTags(vu, url, params);
    const task = vu.loop.add(() => ws.terminate());
    const started = performance.now();
    let hs: Awaited<ReturnType<typeof handshake>>;
    try {
      hs = await handshake(ws, url, tags, metrics);
    } catch (err) {
      task.done();
      throw err;
    }
    let failure: { err: unknown } | null = null;
    const socket = new Socket(ws, metrics, hs.tags, (err) => {
      failure ??= { err };
      ws.terminate();
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    socket.attach();
    try {
      await callback(socket);
    } catch (err) {
      failure ??= { err };
      ws.terminate();
    }
    if (failure === null) socket.emit('open');
    const code = await closed;
    socket.closed();
    task.done();
    metrics.sessionDuration.add(performance.now() - started, hs.tags);
    if (failure === null) socket.emit('close', undefined, code);
    if (failure !== null) throw (failure as { err: unknown }).err;
    if (vu.interrupted) throw new IterationInterruptedError();
    return { url, status: hs.status, headers: hs.headers, body: '', error: '' };
  };

  const mod: Record<string, unknown> = { connect };
  mod.default = mod;
  return mod;
}
