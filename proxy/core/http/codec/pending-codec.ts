// Stands in for a server codec whose module is still loading: the HTTP/2 codec (node:http2, and
// node:tls under it) is imported when the first connection needs it, not at start-up, and that
// connection waits here with its socket paused. Bytes already read (a client preface put back)
// stay on the socket for the codec; a close meanwhile is the connection's close.
import type { NativeStream } from '../../network/transport-socket.js';
import type { HttpProtocol } from '../../stream-info.js';
import { StandInCodec } from './stand-in-codec.js';
import type { ServerConnectionCallbacks } from './types.js';

export class PendingCodec extends StandInCodec {
  readonly protocol: HttpProtocol;

  constructor(protocol: HttpProtocol, socket: NativeStream, callbacks: ServerConnectionCallbacks) {
    super(socket, callbacks);
    this.protocol = protocol;
    socket.pause();
  }

  /** The codec is ready: true when the connection is still open and now the codec's to take. */
  handOver(): boolean {
    return this.release();
  }

  readDisable(_disable: boolean): void {
    // Nothing is read until the codec takes over.
  }

  close(): void {
    // Nothing was written; a paused socket would not read the peer's FIN after an end().
    this.socket.destroy();
  }
}
