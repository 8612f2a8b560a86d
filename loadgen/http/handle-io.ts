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
  type HandleWriteRequest,
  lastWriteWasAsync,
  newWriteRequest,
  type TcpHandle,
  tcpHandleOf,
  writeError,
} from '../../shared/stream-wrap.js';

export { readFromHandle } from '../../shared/stream-wrap.js';

/** A write request that knows its connection and the buffer libuv writes from. */
interface WriterRequest extends HandleWriteRequest {
  writer: HandleWriter | null;
  /** A buffer libuv still writes from: kept alive here, as Node's own write keeps it. */
  buffer: Buffer | null;
}

function onComplete(this: WriterRequest, status: number): void {
  const writer = this.writer;
  this.writer = null;
  this.buffer = null;
  writer?.completed(status);
}

// A write the kernel takes whole never binds its request object to a native write (StreamBase
// tries the write first and wraps the object only for what is left), so one object serves every
// such write; one left queued in libuv keeps its own, and the next write gets a new one.
let spareRequest: WriterRequest | null = null;

function writeRequest(): WriterRequest {
  let req = spareRequest;
  if (req === null) {
    req = newWriteRequest() as WriterRequest;
    req.oncomplete = onComplete as HandleWriteRequest['oncomplete'];
    req.writer = null;
    req.buffer = null;
    spareRequest = req;
  }
  return req;
}

/** Writes one connection's requests; `socket` must be a connected plain TCP socket. */
export class HandleWriter {
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
    const req = writeRequest();
    const status = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (status !== 0) {
      // The object may have been bound to a native write that failed: not reused.
      spareRequest = null;
      socket.destroy(writeError(status));
    } else if (lastWriteWasAsync()) {
      spareRequest = null;
      this.pending = true;
      req.writer = this;
      if (typeof data !== 'string') req.buffer = data;
    }
  }

  /** The rest of a handle write left (status 0) or failed. */
  completed(status: number): void {
    this.pending = false;
    const socket = this.#socket;
    if (status < 0 && !socket.destroyed) socket.destroy(writeError(status));
  }
}
