// A plaintext TCP socket's native handle, used directly where net.Socket's layers have nothing to
// do: writes the kernel takes whole (the proxy's DeferredWriter and HTTP/2 connections, the load
// generator's HandleWriter; writeToHandle) and reads handed straight to a codec. The binding (process.binding('stream_wrap')) is Node's,
// not a documented API: it is checked once here, and without it (or with --throw-deprecation)
// every caller falls back to the socket's own write and read paths.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Node's native write request (stream_wrap's WriteWrap), as a write straight to a handle takes it. */
interface HandleWriteRequest {
  oncomplete: (this: HandleWriteRequest, status: number) => void;
}

/** A connected TCP socket's native handle. */
export interface TcpHandle {
  /** Called by the handle for every read, with the size (or error) in streamBaseState. */
  onread: (this: TcpHandle, arrayBuffer: unknown) => unknown;
  writeBuffer(req: HandleWriteRequest, data: Uint8Array): number;
  writeLatin1String(req: HandleWriteRequest, data: string): number;
}

interface StreamWrapBinding {
  readonly WriteWrap: new () => HandleWriteRequest;
  /** Where a handle reports its last write's outcome (kLastWriteWasAsync: left queued in libuv) and a read's size. */
  readonly streamBaseState: Int32Array;
  readonly kLastWriteWasAsync: number;
  readonly kReadBytesOrError: number;
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
    return null; // e.g. --throw-deprecation
  }
}

/** `socket`'s native handle when it is a TCP handle and the binding is there; null otherwise (TLS, pipes, closed). */
export function tcpHandleOf(socket: Socket): TcpHandle | null {
  if (STREAM_WRAP === null) return null;
  // A stream standing in for a socket (a test's or a benchmark's) may have no _handle at all.
  const handle = (socket as unknown as { _handle?: TcpHandle | null })._handle;
  return handle != null && handle.constructor.name === 'TCP' ? handle : null;
}

/** Who is told when a handle write that libuv left queued completes. */
export interface HandleWriteOwner {
  /** The rest of the write left the kernel's way (status 0) or failed (a negative errno). */
  onHandleWriteComplete(status: number): void;
}

/** A write request that knows its owner and the bytes libuv writes from, while libuv holds it. */
interface OwnedWriteRequest extends HandleWriteRequest {
  owner: HandleWriteOwner | null;
  /** Kept alive here until libuv is done with it, as Node's own write keeps it (req.buffer). */
  buffer: Uint8Array | null;
}

function onOwnedWriteComplete(this: OwnedWriteRequest, status: number): void {
  const owner = this.owner;
  this.owner = null;
  this.buffer = null;
  owner?.onHandleWriteComplete(status);
}

// A write the kernel takes whole never binds its request object to a native write (StreamBase
// tries the write first and wraps the object only for what is left), so one object serves every
// such write of every caller. One left queued in libuv keeps its own (reusing it aborts Node:
// StreamReq's AttachToObject assertion), and so does a failed one, which may have been bound.
let spareRequest: OwnedWriteRequest | null = null;

/** writeToHandle's result when libuv holds the rest of the write: `owner` hears when it completes. */
export const HANDLE_WRITE_QUEUED = 1;

/**
 * Writes `data` straight to a TCP handle (what net.Socket's write does underneath, without its
 * Writable's queueing, callback and state bookkeeping); only once tcpHandleOf has returned it.
 * Returns 0 when the kernel took it whole, HANDLE_WRITE_QUEUED when libuv queued the rest (later
 * writes through socket.write queue behind it; `owner.onHandleWriteComplete` says when it is done),
 * or the failed write's negative errno (writeError makes Node's error of it).
 */
export function writeToHandle(handle: TcpHandle, data: Uint8Array | string, owner: HandleWriteOwner): number {
  let req = spareRequest;
  if (req === null) {
    req = new STREAM_WRAP!.WriteWrap() as OwnedWriteRequest;
    req.oncomplete = onOwnedWriteComplete as HandleWriteRequest['oncomplete'];
    req.owner = null;
    req.buffer = null;
    spareRequest = req;
  }
  const status = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
  if (status !== 0) {
    spareRequest = null;
    return status;
  }
  if (STREAM_WRAP!.streamBaseState[STREAM_WRAP!.kLastWriteWasAsync] === 0) return 0;
  spareRequest = null;
  req.owner = owner;
  // A string's rest is copied by the handle; a buffer's is written from where it is.
  if (typeof data !== 'string') req.buffer = data;
  return HANDLE_WRITE_QUEUED;
}

/** The error Node's own write reports for a failed write (`write EPIPE` …). */
export function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { errno: status, code, syscall: 'write' });
}

/**
 * Takes a plain TCP socket's reads (made into its user buffer, net's `onread`) straight from its
 * handle: `onBytes(n)` for each read of n > 0 bytes, instead of net's own read callback, which
 * refreshes the socket's timer and looks the user buffer and callback up again on every read (4%
 * of the load generator's user CPU in a 50-VU GET loop; about as much of a sidecar's request
 * thread under wrk -c50). End of stream, errors, reads after destroy() and reads of a socket with
 * a timeout (which a read must refresh) still go to net's callback, so pause(), resume(), 'end'
 * and 'error' behave as before. Without the binding, or for a handle that is not TCP, nothing
 * changes and false is returned: the socket's `onread` callback is used.
 */
export function readFromHandle(socket: Socket, onBytes: (n: number) => void): boolean {
  const handle = tcpHandleOf(socket);
  if (handle === null) return false;
  const netOnRead = handle.onread;
  if (typeof netOnRead !== 'function') return false;
  const state = STREAM_WRAP!.streamBaseState;
  const at = STREAM_WRAP!.kReadBytesOrError;
  handle.onread = function (this: TcpHandle, arrayBuffer: unknown): unknown {
    const n = state[at]!;
    if (n > 0 && !socket.destroyed && !socket.timeout) {
      onBytes(n);
      return undefined;
    }
    return netOnRead.call(this, arrayBuffer);
  };
  return true;
}
