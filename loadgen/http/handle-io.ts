// Request bytes written straight to a plain TCP socket's native handle (writeBuffer /
// writeLatin1String with a WriteWrap: what net.Socket's write does underneath), skipping the
// Writable's queueing, write-request object, callback and state bookkeeping, which have nothing to
// do for a request head the kernel takes whole (perf of a 50-VU GET loop: Writable.write and
// writeOrBuffer were 7.8% of the load generator's user CPU, most of it around the one native call).
// A write the kernel takes only in part stays queued in libuv, its buffer referenced from its
// request object until it completes (as Node's own write keeps it); `pending` says so, and until then the connection writes
// through socket.write (which libuv queues behind it) and encodes no bytes into a buffer libuv still
// holds. The binding (process.binding('stream_wrap')) is Node's, not a documented API; the proxy's
// DeferredWriter uses the same one. Without it every write goes through socket.write.
import type * as net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Node's native write request (stream_wrap's WriteWrap). */
interface HandleWriteRequest {
  oncomplete: (this: HandleWriteRequest, status: number) => void;
  writer: HandleWriter | null;
  /** A buffer libuv still writes from: kept alive here, as Node's own write keeps it. */
  buffer: Buffer | null;
}

interface StreamWrapBinding {
  readonly WriteWrap: new () => HandleWriteRequest;
  /** Where a handle reports its last write's outcome (kLastWriteWasAsync: left queued in libuv) and a read's size. */
  readonly streamBaseState: Int32Array;
  readonly kLastWriteWasAsync: number;
  readonly kReadBytesOrError: number;
}

/** A connected TCP socket's native handle. */
interface TcpHandle {
  /** Called by the handle for every read, with the size (or error) in streamBaseState. */
  onread: (this: TcpHandle, arrayBuffer: unknown) => unknown;
  writeBuffer(req: HandleWriteRequest, data: Uint8Array): number;
  writeLatin1String(req: HandleWriteRequest, data: string): number;
}

const STREAM_WRAP = loadStreamWrap();

function loadStreamWrap(): StreamWrapBinding | null {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      'stream_wrap',
    );
    if (
      typeof binding.WriteWrap !== 'function' ||
      !(binding.streamBaseState instanceof Int32Array) ||
      typeof binding.kLastWriteWasAsync !== 'number' ||
      typeof binding.kReadBytesOrError !== 'number'
    )
      return null;
    return binding as StreamWrapBinding;
  } catch {
    return null; // e.g. --throw-deprecation: every write goes through socket.write
  }
}

/** The error Node's own write reports for a failed write (`write EPIPE` …). */
function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { errno: status, code, syscall: 'write' });
}

function onComplete(this: HandleWriteRequest, status: number): void {
  const writer = this.writer;
  this.writer = null;
  this.buffer = null;
  writer?.completed(status);
}

// A write the kernel takes whole never binds its request object to a native write (StreamBase
// tries the write first and wraps the object only for what is left), so one object serves every
// such write; one left queued in libuv keeps its own, and the next write gets a new one.
let spareRequest: HandleWriteRequest | null = null;

function writeRequest(): HandleWriteRequest {
  let req = spareRequest;
  if (req === null) {
    req = new STREAM_WRAP!.WriteWrap();
    req.oncomplete = onComplete;
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
    const handle = (socket as unknown as { _handle: TcpHandle | null })._handle;
    this.#handle =
      STREAM_WRAP !== null && handle !== null && handle.constructor.name === 'TCP' && socket.timeout === undefined
        ? handle
        : null;
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
    } else if (STREAM_WRAP!.streamBaseState[STREAM_WRAP!.kLastWriteWasAsync] !== 0) {
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

/**
 * Takes a plain TCP socket's reads (made into its `onread` buffer) straight from its handle:
 * `onBytes(n)` for each read of n > 0 bytes, before net's own read callback, which would refresh a
 * socket timer we never set and look the user buffer and callback up again on every read (4% of
 * the load generator's user CPU, perf of a 50-VU GET loop). End of stream, errors and reads after
 * destroy() still go to net's callback. Without the binding, or for a handle that is not TCP,
 * nothing changes and the socket's `onread` callback is used.
 */
export function readFromHandle(socket: net.Socket, onBytes: (n: number) => void): void {
  const handle = (socket as unknown as { _handle: TcpHandle | null })._handle;
  if (STREAM_WRAP === null || handle === null || handle.constructor.name !== 'TCP') return;
  const netOnRead = handle.onread;
  if (typeof netOnRead !== 'function') return;
  const state = STREAM_WRAP.streamBaseState;
  const at = STREAM_WRAP.kReadBytesOrError;
  handle.onread = function (this: TcpHandle, arrayBuffer: unknown): unknown {
    const n = state[at]!;
    if (n > 0 && !socket.destroyed) {
      onBytes(n);
      return undefined;
    }
    return netOnRead.call(this, arrayBuffer);
  };
}
