// Request bytes written straight to a plain TCP socket's native handle (writeBuffer /
// writeLatin1String with a WriteWrap: what net.Socket's write does underneath), skipping the
// Writable's queueing, write-request object, callback and state bookkeeping, which have nothing to
// do for a request head the kernel takes whole (perf of a 50-VU GET loop: Writable.write and
// writeOrBuffer were 7.8% of the load generator's user CPU, most of it around the one native call).
// A write the kernel takes only in part stays queued in libuv, its buffer referenced from its
// request object until it completes (as Node's own write keeps it); `pending` says so, and until then the connection writes
// through socket.write (which libuv queues behind it) and encodes no bytes into a buffer libuv still
// holds. The binding is Node's, not a documented API (shared/stream-wrap.ts, which the proxy's
// DeferredWriter uses too): without it every write goes through socket.write. Reads are taken
// straight from the handle too (readFromHandle, re-exported from there).
import type * as net from 'node:net';
import {
  HANDLE_WRITE_QUEUED,
  type HandleWriteOwner,
  type TcpHandle,
  tcpHandleOf,
  writeError,
  writeToHandle,
} from '../../shared/stream-wrap.js';

export { readFromHandle } from '../../shared/stream-wrap.js';

/** Writes one connection's requests; `socket` must be a connected plain TCP socket. */
export class HandleWriter implements HandleWriteOwner {
  readonly #socket: net.Socket;
  readonly #handle: TcpHandle | null;
  /** A handle write the kernel took only in part is still queued in libuv (and holds its bytes). */
  pending = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#handle = socket.timeout === undefined ? tcpHandleOf(socket) : null;
  }

  /** Nothing of this socket's earlier writes is still waiting to leave (a buffer may be rewritten). */
  get idle(): boolean {
    return !this.pending && this.#socket.writableLength === 0;
  }

  write(data: Buffer | string): void {
    const socket = this.#socket;
    const handle = this.#handle;
    if (handle === null || this.pending || socket.writableLength !== 0 || socket.destroyed) {
      if (typeof data === 'string') socket.write(data, 'latin1');
      else socket.write(data);
      return;
    }
    const result = writeToHandle(handle, data, this);
    if (result === HANDLE_WRITE_QUEUED) this.pending = true;
    else if (result !== 0) socket.destroy(writeError(result));
  }

  /** The rest of a handle write left (status 0) or failed. */
  onHandleWriteComplete(status: number): void {
    this.pending = false;
    const socket = this.#socket;
    if (status < 0 && !socket.destroyed) socket.destroy(writeError(status));
  }
}
