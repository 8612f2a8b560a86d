// codec_type AUTO (Envoy's ConnectionManagerImpl::createCodec with AUTO): the connection's first
// bytes tell HTTP/2 with prior knowledge (the client preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`)
// from HTTP/1.x. Until they arrive this stands in for the codec; then it puts the bytes back on
// the socket and hands over, so the chosen codec reads the connection from its first byte and
// nothing stays between it and the socket.
import type { TransportSocket } from '../../network/transport-socket.js';
import { StandInCodec } from './stand-in-codec.js';
import type { ServerConnectionCallbacks } from './types.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export class PrefaceDetector extends StandInCodec {
  readonly protocol = 'HTTP/1.1' as const;
  readonly #onDetected: (http2: boolean) => void;
  /** Bytes read so far: less than the preface's length, each matching it. */
  #head: Buffer | null = null;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.close();

  constructor(transport: TransportSocket, callbacks: ServerConnectionCallbacks, onDetected: (http2: boolean) => void) {
    super(transport.stream, callbacks);
    this.#onDetected = onDetected;
    transport.stream.on('data', this.#onData);
    transport.stream.on('end', this.#onEnd);
  }

  #read(chunk: Buffer): void {
    const head = this.#head === null ? chunk : Buffer.concat([this.#head, chunk]);
    const n = Math.min(head.length, PREFACE.length);
    const matches = head.compare(PREFACE, 0, n, 0, n) === 0;
    if (matches && n < PREFACE.length) {
      this.#head = head;
      return;
    }
    const s = this.socket;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    this.release();
    s.pause();
    s.unshift(head);
    this.#onDetected(matches);
  }

  readDisable(disable: boolean): void {
    if (disable) this.socket.pause();
    else this.socket.resume();
  }

  close(): void {
    this.socket.end();
  }
}
