// A plaintext TCP socket's native handle, used directly where net.Socket's layers have nothing to
// do: writes the kernel takes whole (the proxy's DeferredWriter, the load generator's HandleWriter)
// and reads handed straight to a codec. The binding (process.binding('stream_wrap')) is Node's,
// not a documented API: it is checked once here, and without it (or with --throw-deprecation)
// every caller falls back to the socket's own write and read paths.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Node's native write request (stream_wrap's WriteWrap), as a write straight to a handle takes it. */
export interface HandleWriteRequest {
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

/** A new native write request; only once tcpHandleOf has returned a handle (the binding is there). */
export function newWriteRequest(): HandleWriteRequest {
  return new STREAM_WRAP!.WriteWrap();
}

/** The handle's last write left bytes queued in libuv (the kernel took only part): its request completes later. */
export function lastWriteWasAsync(): boolean {
  return STREAM_WRAP!.streamBaseState[STREAM_WRAP!.kLastWriteWasAsync] !== 0;
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
