// Reads of an accepted socket straight into a buffer the caller reuses, as net's `onread` option
// gives the sockets Node connects (net.connect, tls.connect) but not the ones a server accepts:
// no Buffer allocated per read and no readable-stream machinery (push, `data`, a nextTick per
// read) between the handle and the codec. Node keeps `onread` in two slots of the socket and
// points the handle at the buffer in its constructor; this sets the same two slots, found once
// by name and value on a probe socket made with the option, and points the handle the same way.
// Where this Node keeps them otherwise, nothing changes and reads stay `data` events.
// A plaintext TCP socket's reads are then taken straight from its handle (readFromHandle in
// shared/stream-wrap.ts), past net's read callback; end of stream and errors still go through it.
import { Buffer } from 'node:buffer';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { readFromHandle } from '../../../shared/stream-wrap.js';
import { duringRead } from '../read-clock.js';

interface UserBufferSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

const SLOTS = findUserBufferSlots();

/** Views kept per shared buffer: 256 slots, one per read length modulo 256. */
const VIEW_SLOTS = 256;
/** Each shared buffer's views, one set per buffer whoever reads into it. */
const viewsOf = new WeakMap<Buffer, (length: number) => Buffer>();

/**
 * `buffer`'s views of its first n bytes, for the reads made into it: a read of a length seen
 * before gets the same view again instead of a new Buffer (subarray makes a typed array per call:
 * perf under wrk -c50, ~1.3% of the request thread for the request's read and the response's).
 * Sharing a view changes nothing a reader may rely on: a view of a shared buffer is valid only
 * during its read whether new or not, as its bytes are the next read's. Direct-mapped by length,
 * so a worker keeps at most 256 views per buffer, whatever lengths its reads have.
 */
export function sharedBufferViews(buffer: Buffer): (length: number) => Buffer {
  let viewOf = viewsOf.get(buffer);
  if (viewOf === undefined) {
    const views: Array<Buffer | undefined> = new Array(VIEW_SLOTS).fill(undefined);
    viewOf = (length: number): Buffer => {
      const slot = length & (VIEW_SLOTS - 1);
      let view = views[slot];
      if (view === undefined || view.length !== length) views[slot] = view = buffer.subarray(0, length);
      return view;
    };
    viewsOf.set(buffer, viewOf);
  }
  return viewOf;
}

function findUserBufferSlots(): UserBufferSlots | null {
  const buffer = Buffer.alloc(1);
  const callback = (): boolean => true;
  const probe = new Socket({ onread: { buffer, callback } } as SocketConstructorOpts);
  const slots = probe as unknown as Record<symbol, unknown>;
  const find = (name: string, value: unknown): symbol | undefined =>
    Object.getOwnPropertySymbols(probe).find((s) => s.description === name && slots[s] === value);
  const b = find('kBuffer', buffer);
  const c = find('kBufferCb', callback);
  probe.destroy();
  return b === undefined || c === undefined ? null : { buffer: b, callback: c };
}

/**
 * From now on `stream`'s reads are handed to `onRead` as views of `buffer`, valid only during the
 * call; bytes the stream already holds still come as `data` events first. Pause and resume stop
 * and restart the handle's reads as for a connected socket with `onread`. False, and nothing
 * changed, when the stream has no native handle that can read into a buffer.
 */
export function readIntoBuffer(stream: Socket, buffer: Buffer, onRead: (data: Buffer) => void): boolean {
  const handle = (stream as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (SLOTS === null || typeof handle?.useUserBuffer !== 'function') return false;
  const view = sharedBufferViews(buffer);
  const handleRead = (nread: number): void => onRead(view(nread));
  const onBytes = (nread: number): void => duringRead(handleRead, nread);
  const slots = stream as unknown as Record<symbol, unknown>;
  slots[SLOTS.buffer] = buffer;
  slots[SLOTS.callback] = (nread: number): boolean => {
    onBytes(nread);
    return true;
  };
  handle.useUserBuffer(buffer);
  readFromHandle(stream, onBytes);
  return true;
}
