// A connection while its listener filters run (Envoy's ActiveTcpSocket): tls_inspector and
// http_inspector peek at the first bytes to learn SNI, ALPN, the transport and the HTTP
// version, one filter after the other, before a filter chain is chosen. Node cannot MSG_PEEK,
// so the bytes are read and buffered (bounded by the largest `maxReadBytes`) and pushed back
// onto the socket with `unshift` before the chain's network filters see it: they read them again.
import type { Socket } from 'node:net';
import type { AcceptedSocket, ListenerFilter } from '../extension-points.js';
import type { Counter } from '../../stats/types.js';

export interface ListenerFilterSettings {
  readonly filters: readonly ListenerFilter[];
  /** `listener_filters_timeout` (Envoy default 15 s); 0 waits for ever. */
  readonly timeoutMs: number;
  /** `continue_on_listener_filters_timeout`: on timeout, choose a chain with what is known instead of closing. */
  readonly continueOnTimeout: boolean;
  /** The largest `maxReadBytes` of the filters: what may be buffered before a decision. */
  readonly maxReadBytes: number;
}

export class ActiveTcpSocket implements AcceptedSocket {
  readonly socket: Socket;
  detectedTransportProtocol = '';
  requestedServerName = '';
  requestedApplicationProtocols: readonly string[] = [];
  readonly #settings: ListenerFilterSettings;
  readonly #onDone: (accepted: ActiveTcpSocket) => void;
  readonly #onGone: (accepted: ActiveTcpSocket) => void;
  readonly #timeouts: Counter | null;
  #buffered: Buffer = Buffer.alloc(0);
  #next = 0;
  #ended = false;
  #finished = false;
  #timer: NodeJS.Timeout | null = null;
  readonly #onData = (chunk: Buffer): void => {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#run();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#run();
  };
  readonly #onClose = (): void => this.#abandon();

  /** `onDone` gets the socket when every filter continued; `onGone` when it closed before that. */
  constructor(
    socket: Socket,
    settings: ListenerFilterSettings,
    timeouts: Counter | null,
    onDone: (accepted: ActiveTcpSocket) => void,
    onGone: (accepted: ActiveTcpSocket) => void,
  ) {
    this.socket = socket;
    this.#settings = settings;
    this.#timeouts = timeouts;
    this.#onDone = onDone;
    this.#onGone = onGone;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', () => {
      // 'close' follows.
    });
    if (settings.timeoutMs > 0) {
      this.#timer = setTimeout(() => this.#onTimeout(), settings.timeoutMs);
      this.#timer.unref();
    }
  }

  #run(): void {
    if (this.#finished) return;
    const filters = this.#settings.filters;
    while (this.#next < filters.length) {
      const status = filters[this.#next]!.onData(this.#buffered, this, this.#ended);
      if (status === 'continue') {
        this.#next++;
        continue;
      }
      // A filter still waiting at EOF or at the read bound will never be satisfied.
      if (status === 'close' || this.#ended || this.#buffered.length >= this.#settings.maxReadBytes) {
        this.close();
        return;
      }
      return;
    }
    // Every filter continued. Bytes can be pushed back only before the stream's 'end': a peer
    // that half-closed before the filters decided (a partial request line, then FIN) is closed.
    if (this.#ended) {
      this.close();
      return;
    }
    this.#finish();
  }

  #onTimeout(): void {
    if (this.#finished) return;
    this.#timeouts?.inc();
    if (this.#settings.continueOnTimeout && !this.#ended) this.#finish();
    else this.close();
  }

  #finish(): void {
    this.#detach();
    const socket = this.socket;
    socket.pause();
    if (this.#buffered.length > 0) socket.unshift(this.#buffered);
    this.#buffered = Buffer.alloc(0);
    this.#onDone(this);
    // The chain's network filter attached its readers in onNewConnection: let the bytes flow.
    if (!socket.destroyed) socket.resume();
  }

  /** Closes a connection still in its listener filters (refused, timed out, listener draining). */
  close(): void {
    if (this.#finished) return;
    this.socket.destroy();
    this.#abandon();
  }

  #abandon(): void {
    if (this.#finished) return;
    this.#detach();
    this.#onGone(this);
  }

  #detach(): void {
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onClose);
  }
}
