// k6/websockets: the browser's WebSocket API (new WebSocket(url), onopen/onmessage/onclose/
// onerror/onping/onpong and addEventListener, send, close, ping, binaryType). Nothing blocks:
// an open socket is work on the VU's event loop, so the iteration ends once every socket it
// opened has closed, as in k6. Listeners run as event-loop callbacks (a throw fails the iteration).
import { types } from 'node:util';
import type * as WsModule from 'ws';
import type { ModuleContext } from '../context.js';
import type { LoopTask } from '../event-loop.js';
import { handshake, openSocket, sessionTags, type WsMetrics, type WsParams, wsMetrics } from './ws-common.js';

type Listener = (event: unknown) => unknown;
const EVENT_NAMES = ['open', 'close', 'error', 'message', 'ping', 'pong'] as const;

export function createWebSocketsModule(ctx: ModuleContext): Record<string, unknown> {
  const { vu } = ctx;
  let metrics: WsMetrics | undefined;

  class WebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSING = 2;
    readonly CLOSED = 3;
    readonly url: string;
    binaryType: 'blob' | 'arraybuffer' = 'blob';
    onopen: Listener | null = null;
    onmessage: Listener | null = null;
    onclose: Listener | null = null;
    onerror: Listener | null = null;
    onping: Listener | null = null;
    onpong: Listener | null = null;
    readonly #ws: WsModule.WebSocket;
    readonly #listeners = new Map<string, Listener[]>();
    readonly #task: LoopTask;
    readonly #metrics: WsMetrics;
    #tags: Record<string, string>;
    #pingSent = 0;

    constructor(url: string, protocols?: string | string[] | null, params?: WsParams | null) {
      if (ctx.inInit()) throw new Error('websockets: a WebSocket cannot be opened in the init context');
      this.url = url;
      metrics ??= wsMetrics(ctx.test);
      this.#metrics = metrics;
      this.#ws = openSocket(vu, url, params, protocols ?? undefined);
      this.#tags = sessionTags(vu, url, params);
      this.#task = vu.loop.add(() => this.#ws.terminate());
      const started = performance.now();
      handshake(this.#ws, url, this.#tags, this.#metrics).then(
        (hs) => {
          this.#tags = hs.tags;
          this.#attach(started);
          this.#dispatch('open', { type: 'open', timestamp: Date.now() });
        },
        (err: Error) => {
          this.#dispatch('error', { type: 'error', error: err.message, timestamp: Date.now() });
          this.#dispatch('close', { type: 'close', code: 1006, reason: '', wasClean: false, timestamp: Date.now() });
          this.#task.done();
        },
      );
    }

    get readyState(): number {
      return this.#ws.readyState;
    }
    get bufferedAmount(): number {
      return this.#ws.bufferedAmount;
    }
    get protocol(): string {
      return this.#ws.protocol;
    }

    addEventListener(event: string, listener: Listener): void {
      if (!(EVENT_NAMES as readonly string[]).includes(event))
        throw new Error(`websockets: unknown event '${event}' (${EVENT_NAMES.join(', ')})`);
      if (typeof listener !== 'function') throw new Error('websockets: addEventListener needs a function');
      const list = this.#listeners.get(event);
      if (list === undefined) this.#listeners.set(event, [listener]);
      else list.push(listener);
    }

    send(data: string | ArrayBuffer | ArrayBufferView | Blob): void {
      if (this.#ws.readyState !== this.#ws.OPEN) throw new Error('websockets: send() on a socket that is not open');
      if (typeof data === 'string') this.#ws.send(data);
      else if (types.isAnyArrayBuffer(data)) this.#ws.send(Buffer.from(data));
      else if (ArrayBuffer.isView(data)) this.#ws.send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      else if (data instanceof Blob) {
        // A Blob's bytes arrive asynchronously; the message leaves once they have.
        // A socket closed meanwhile is the script's error, not an unhandled rejection.
        data.arrayBuffer().then(
          (b) => vu.loop.call(() => this.#ws.send(Buffer.from(b)), this),
          (err: unknown) => vu.loop.fail(err),
        );
      } else this.#ws.send(String(data));
      this.#metrics.msgsSent.add(1, this.#tags);
    }

    ping(): void {
      this.#pingSent = performance.now();
      this.#ws.ping();
    }

    close(code?: number, reason?: string): void {
      if (this.#ws.readyState === this.#ws.CONNECTING) this.#ws.terminate();
      else if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(code ?? 1000, reason);
    }

    #attach(started: number): void {
      const ws = this.#ws;
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        this.#metrics.msgsReceived.add(1, this.#tags);
        const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
        let payload: string | ArrayBuffer | Blob;
        if (!isBinary) payload = buf.toString('utf8');
        else if (this.binaryType === 'arraybuffer')
          payload = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
        else payload = new Blob([buf]);
        this.#dispatch('message', { type: 'message', data: payload, origin: this.url, timestamp: Date.now() });
      });
      ws.on('ping', () => this.#dispatch('ping', { type: 'ping', timestamp: Date.now() }));
      ws.on('pong', () => {
        if (this.#pingSent > 0) this.#metrics.ping.add(performance.now() - this.#pingSent, this.#tags);
        this.#dispatch('pong', { type: 'pong', timestamp: Date.now() });
      });
      ws.on('error', (err: Error) =>
        this.#dispatch('error', { type: 'error', error: err.message, timestamp: Date.now() }),
      );
      ws.once('close', (code: number, reason: Buffer) => {
        this.#metrics.sessionDuration.add(performance.now() - started, this.#tags);
        this.#dispatch('close', {
          type: 'close',
          code,
          reason: reason.toString(),
          wasClean: code !== 1006,
          timestamp: Date.now(),
        });
        this.#task.done();
      });
    }

    #dispatch(event: string, payload: unknown): void {
      const own = (this as unknown as Record<string, unknown>)[`on${event}`];
      if (typeof own === 'function') vu.loop.call(own, this, payload);
      for (const l of this.#listeners.get(event) ?? []) vu.loop.call(l, this, payload);
    }
  }

  const mod: Record<string, unknown> = { WebSocket, Blob };
  mod.default = mod;
  return mod;
}
