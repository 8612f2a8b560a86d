// What the two stand-ins for a server codec share (PrefaceDetector until the first bytes say
// HTTP/1.x or HTTP/2, PendingCodec until the HTTP/2 module has loaded): nothing has been read or
// written, so there are no streams and a protocol error just drops the connection; the socket's
// close is the connection's close until the real codec takes the socket over.
import type { NativeStream } from '../../network/transport-socket.js';
import type { HttpProtocol } from '../../stream-info.js';
import type { ServerConnection, ServerConnectionCallbacks } from './types.js';

export abstract class StandInCodec implements ServerConnection {
  abstract readonly protocol: HttpProtocol;
  readonly idle = true;
  protected readonly socket: NativeStream;
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

  constructor(socket: NativeStream, callbacks: ServerConnectionCallbacks) {
    this.socket = socket;
    this.#callbacks = callbacks;
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError);
  }

  /** Stops standing in: true when the connection is still open and now the real codec's to take. */
  protected release(): boolean {
    this.socket.off('close', this.#onClose);
    this.socket.off('error', this.#onError);
    return !this.#closed && !this.socket.destroyed;
  }

  abstract readDisable(disable: boolean): void;

  shutdownNotice(): void {
    // Nothing was read yet: the connection manager closes an idle connection itself, and tells
    // the real codec once it exists.
  }

  onStreamComplete(): boolean {
    return false;
  }

  sendProtocolError(_status: number, _details: string, _responseFlag: number): void {
    this.destroy();
  }

  abstract close(): void;

  destroy(): void {
    this.socket.destroy();
  }
}
