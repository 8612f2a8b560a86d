// Request bodies of a known length are read into buffers used again, request after request.
// A body is needed only until its request is answered: it is decoded at once into rows (no
// view of it outlives the decode) and written to the log, whose write has completed by the
// time the ack goes out. Joining the socket's chunks into a new buffer per request
// (Buffer.concat) was 3-4% of the event loop under bench:collector, and every such buffer is
// external memory V8 counts towards its next full garbage collection.

const KiB = 1024;

/**
 * Bodies above this are read chunk by chunk as they arrive (rare, not worth keeping, and a
 * declared length is not allocated before its bytes come).
 */
const MAX_POOLED_BYTES = 1024 * KiB;
/** Idle buffers kept at most, in bytes: what an idle collector holds for the next requests. */
const MAX_IDLE_BYTES = 8 * 1024 * KiB;
/** Capacities are multiples of this, so bodies of similar sizes share buffers. */
const GRANULE = 64 * KiB;

export class BodyBuffers {
  readonly #idle: ArrayBuffer[] = [];
  #idleBytes = 0;
  /** The backing stores handed out and not given back yet: give() takes back only these. */
  readonly #own = new WeakSet<ArrayBuffer>();

  /** A buffer of exactly `size` bytes (contents undefined) to hand back with give(), or undefined above the pooled size. */
  take(size: number): Buffer | undefined {
    if (size > MAX_POOLED_BYTES) return undefined;
    // Smallest idle buffer that fits (a handful at most).
    let best = -1;
    for (let i = 0; i < this.#idle.length; i++) {
      const cap = this.#idle[i]!.byteLength;
      if (cap >= size && (best < 0 || cap < this.#idle[best]!.byteLength)) best = i;
    }
    if (best >= 0) {
      const ab = this.#idle[best]!;
      this.#idle[best] = this.#idle[this.#idle.length - 1]!;
      this.#idle.pop();
      this.#idleBytes -= ab.byteLength;
      this.#own.add(ab);
      return Buffer.from(ab, 0, size);
    }
    const ab = new ArrayBuffer(Math.ceil(Math.max(size, 1) / GRANULE) * GRANULE);
    this.#own.add(ab);
    return Buffer.from(ab, 0, size);
  }

  /** Hands a body back once nothing reads it any more (its request answered). */
  give(body: Buffer): void {
    const ab = body.buffer;
    // Taken back once: a second give() of the same body is ignored.
    if (!(ab instanceof ArrayBuffer) || !this.#own.delete(ab)) return;
    if (this.#idleBytes + ab.byteLength > MAX_IDLE_BYTES) return;
    this.#idle.push(ab);
    this.#idleBytes += ab.byteLength;
  }

  get idleBytes(): number {
    return this.#idleBytes;
  }
}
