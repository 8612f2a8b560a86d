// The streams a connection pool holds while no connection can take them, one FIFO for the
// HTTP/1.1 and HTTP/2 pools (Envoy's ConnPoolImplBase::pending_streams_). A slot array with a
// moving head instead of Array#shift (O(n) per dequeue); a cancelled stream leaves a null hole so
// removal does not move the others. The pools bound it by the cluster's max_pending_requests
// before pushing. The queue also keeps that circuit breaker's count and the
// upstream_rq_pending_* stats, as ConnPoolImplBase's newPendingStream/onPendingStreamCancel do:
// every way in or out of the queue moves them, so neither pool can count one and not the other.
import type { ResponseDecoder } from '../http/codec/types.js';
import type { Cancellable, PoolCallbacks, PoolClusterInfo } from './conn-pool.js';

/** A stream waiting for a connection. */
export interface PendingStream {
  readonly decoder: ResponseDecoder;
  readonly callbacks: PoolCallbacks;
}

export class PendingQueue {
  #items: Array<PendingStream | null> = [];
  #head = 0;
  size = 0;
  readonly #cluster: PoolClusterInfo;

  constructor(cluster: PoolClusterInfo) {
    this.#cluster = cluster;
  }

  /** Queues a stream (counted as pending) and returns how to withdraw it while it waits. */
  push(decoder: ResponseDecoder, callbacks: PoolCallbacks): Cancellable {
    const stream: PendingStream = { decoder, callbacks };
    this.#items.push(stream);
    this.size++;
    const cluster = this.#cluster;
    cluster.resources.pendingRequests++;
    cluster.stats.upstream_rq_pending_active.inc();
    cluster.stats.upstream_rq_pending_total.inc();
    return () => {
      if (this.#remove(stream)) this.#dequeued();
    };
  }

  /** The oldest waiting stream (no longer counted as pending), or null when none waits. */
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
        this.#dequeued();
        return stream;
      }
    }
    return null;
  }

  /** The newest waiting stream (no longer counted as pending), or null when none waits. */
  pop(): PendingStream | null {
    while (this.#items.length > this.#head) {
      const stream = this.#items.pop()!;
      if (stream !== null) {
        this.size--;
        this.#dequeued();
        return stream;
      }
    }
    return null;
  }

  /** Takes a cancelled stream out; false when it was no longer waiting. */
  #remove(stream: PendingStream): boolean {
    const i = this.#items.indexOf(stream, this.#head);
    if (i === -1) return false;
    this.#items[i] = null;
    this.size--;
    return true;
  }

  #dequeued(): void {
    this.#cluster.resources.pendingRequests--;
    this.#cluster.stats.upstream_rq_pending_active.dec();
  }
}
