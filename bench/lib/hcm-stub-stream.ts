// A stand-in for a connection's native stream in micro-benchmarks: it takes writes and drops
// them, so a benchmark can drive the connection manager and its codec in a loop and measure
// their per-request CPU without the kernel. Never used by tests (they use real sockets).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export class DiscardStream extends EventEmitter {
  readonly remoteAddress = '10.0.0.7';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 10000;
  readonly writableNeedDrain = false;
  readonly destroyed = false;
  readonly writableEnded = false;
  bytesWritten = 0;

  write(data: string | Buffer): boolean {
    this.bytesWritten += data.length;
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}

  /** Typed as the native stream a transport socket hands to a codec. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}
