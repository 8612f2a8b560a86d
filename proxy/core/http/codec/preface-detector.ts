// codec_type AUTO (Envoy's ConnectionManagerImpl::createCodec with AUTO): the connection's first
// bytes tell HTTP/2 with prior knowledge (the client preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`)
// from HTTP/1.x. Until they arrive this stands in for the codec; then it puts the bytes back on
// the socket and hands over, so the chosen codec reads the connection from its first byte and
// nothing stays between it and the socket.
import type { NativeStream, TransportSocket } from '../../network/transport-socket.js';
import type { ServerConnection, ServerConnectionCallbacks } from './types.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export class PrefaceDetector implements ServerConnection {
  readonly protocol = 'HTTP/1.1' as const;
  readonly idle = true;
  readonly #socket: NativeStream;
  readonly #callbacks: ServerConnectionCallbacks;
  readonly #onDetected: (http2: boolean) => void;
  /** Bytes read so far: less than the preface's length, each matching it. */
  #head: Buffer | null = null;
  #closed = false;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.close();
  readonly #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#callbacks.onConnectionClose();
  };
  readonly #onError = (): void => {
    // 'close' follows.
  };

  constructor(transport: TransportSocket, callbacks: ServerConnectionCallbacks, onDetected: (http2: boolean) => void) {
    this.#socket = transport.stream;
    this.#callbacks = callbacks;
    this.#onDetected = onDetected;
    const s = this.#socket;
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('close', this.#onClose);
    s.on('error', this.#onError);
  }

  #read(chunk: Buffer): void {
    const head = this.#head === null ? chunk : Buffer.concat([this.#head, chunk]);
    const n = Math.min(head.length, PREFACE.length);
    const matches = head.compare(PREFACE, 0, n, 0, n) === 0;
    if (matches && n < PREFACE.length) {
      this.#head = head;
      return;
    }
    const s = this.#socket;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    s.off('error', this.#onError);
    s.pause();
    s.unshift(head);
    this.#onDetected(matches);
  }

  readDisable(disable: boolean): void {
    if (disable) this.#socket.pause();
    else this.#socket.resume();
  }

  shutdownNotice(): void {
    // Nothing was read yet: the connection manager closes an idle connection itself.
  }

  onStreamComplete(): boolean {
    return false;
  }

  sendProtocolError(_status: number, _details: string, _responseFlag: number): void {
    this.destroy();
  }

  close(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
