// Stands in for a server codec whose module is still loading: the HTTP/2 codec (node:http2, and
// node:tls under it) is imported when the first connection needs it, not at start-up, and that
// connection waits here with its socket paused. Bytes already read (a client preface put back)
// stay on the socket for the codec; a close meanwhile is the connection's close.
import type { NativeStream } from '../../network/transport-socket.js';
import type { HttpProtocol } from '../../stream-info.js';
import type { ServerConnection, ServerConnectionCallbacks } from './types.js';

export class PendingCodec implements ServerConnection {
  readonly protocol: HttpProtocol;
  readonly idle = true;
  readonly #socket: NativeStream;
  readonly #callbacks: ServerConnectionCallbacks;
  #closed = false;
  readonly #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#callbacks.onConnectionClose();
  };
  readonly #onError = (): void => {
    // 'close' follows.
  };

  constructor(protocol: HttpProtocol, socket: NativeStream, callbacks: ServerConnectionCallbacks) {
    this.protocol = protocol;
    this.#socket = socket;
    this.#callbacks = callbacks;
    socket.pause();
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError);
  }

  /** The codec is ready: true when the connection is still open and now the codec's to take. */
  handOver(): boolean {
    const s = this.#socket;
    s.off('close', this.#onClose);
    s.off('error', this.#onError);
    return !this.#closed && !s.destroyed;
  }

  readDisable(_disable: boolean): void {
    // Nothing is read until the codec takes over.
  }

  shutdownNotice(): void {
    // The connection manager tells the codec once it exists.
  }

  onStreamComplete(): boolean {
    return false;
  }

  sendProtocolError(_status: number, _details: string, _responseFlag: number): void {
    this.destroy();
  }

  close(): void {
    // Nothing was written; a paused socket would not read the peer's FIN after an end().
    this.#socket.destroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
