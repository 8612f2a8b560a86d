// The streams a connection pool holds while no connection can take them, one FIFO for the
// HTTP/1.1 and HTTP/2 pools. A slot array with a moving head instead of Array#shift (O(n) per
// dequeue); a cancelled stream leaves a null hole so removal does not move the others. The pools
// bound it by the cluster's max_pending_requests before pushing.
import type { ResponseDecoder } from '../http/codec/types.js';
import type { PoolCallbacks } from './conn-pool.js';

/** A stream waiting for a connection. */
export interface PendingStream {
  readonly decoder: ResponseDecoder;
  readonly callbacks: PoolCallbacks;
}

export class PendingQueue {
  #items: Array<PendingStream | null> = [];
  #head = 0;
  size = 0;

  push(stream: PendingStream): void {
    this.#items.push(stream);
    this.size++;
  }

  /** The oldest waiting stream, or null when none waits. */
  shift(): PendingStream | null {
    while (this.#head < this.#items.length) {
      const stream = this.#items[this.#head]!;
      this.#items[this.#head++] = null;
      if (this.#head > 64 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (stream !== null) {
        this.size--;
        return stream;
      }
    }
    return null;
  }

  /** The newest waiting stream, or null when none waits. */
  pop(): PendingStream | null {
    while (this.#items.length > this.#head) {
      const stream = this.#items.pop()!;
      if (stream !== null) {
        this.size--;
        return stream;
      }
    }
    return null;
  }

  /** Takes a cancelled stream out; false when it was no longer waiting. */
  remove(stream: PendingStream): boolean {
    const i = this.#items.indexOf(stream, this.#head);
    if (i === -1) return false;
    this.#items[i] = null;
    this.size--;
    return true;
  }
}
