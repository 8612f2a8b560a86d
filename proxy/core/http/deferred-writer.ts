// A socket's writes are deferred to the end of the event-loop turn (setImmediate: after every
// I/O callback of the turn), as Envoy defers a connection's writes to its write event, and
// leave in one syscall. Deferring to the end of the turn rather than of the callback
// (process.nextTick) batches the writes of every connection served in one turn: under load the
// peers they wake (the client, the upstream) are still running from the first write when the
// others land, instead of each write waking a peer that had gone idle, which in a VM costs an
// interprocessor interrupt in the writer's own time. Interleaved A/B under wrk -c50, 5 rounds:
// 7% more requests/s without telemetry; with tracing, access logs and istio.stats the request
// thread's CPU per request fell from 45.7 to 35.1 us and requests/s rose by a quarter. At low
// load a turn serves one request and the write leaves as soon as before.
// Small writes (a response head and a small body, a request head) are joined as latin1 text,
// which preserves bytes: one write() of one string, with no corked write queue, no writev
// array and no per-chunk write requests (about 1 KB less garbage per proxied request, measured
// with allocation sampling). Larger writes cork behind the joined text and go out in one
// writev. Shared by the downstream connection and the upstream connection pool.
import type { NativeStream } from '../network/transport-socket.js';

/** Writes of one turn up to this many bytes are joined into one string. */
const JOIN_MAX = 4096;

export class DeferredWriter {
  readonly #socket: NativeStream;
  /** Called when a write lands above the socket's high-water mark (flow control). */
  readonly #onAboveWatermark: () => void;
  #pendingText: string | null = null;
  #corked = false;
  readonly #flushTurn = (): void => {
    this.flush();
    if (this.#corked) {
      this.#corked = false;
      this.#socket.uncork();
    }
  };

  constructor(socket: NativeStream, onAboveWatermark: () => void = () => {}) {
    this.#socket = socket;
    this.#onAboveWatermark = onAboveWatermark;
  }

  /**
   * Queues `data` for this turn's write. `join` false never holds bytes back as text (a
   * tunnel whose end() comes straight from the socket). Returns false when the socket's
   * buffer is above its high-water mark.
   */
  write(data: string | Buffer, join = true): boolean {
    const socket = this.#socket;
    const pending = this.#pendingText;
    if (join && !this.#corked && (pending === null ? 0 : pending.length) + data.length <= JOIN_MAX) {
      const text = typeof data === 'string' ? data : data.toString('latin1');
      if (pending === null) {
        this.#pendingText = text;
        setImmediate(this.#flushTurn);
      } else this.#pendingText = pending + text;
      if (socket.writableNeedDrain) {
        this.#onAboveWatermark();
        return false;
      }
      return true;
    }
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      if (pending === null) setImmediate(this.#flushTurn);
      else this.flush();
    }
    const ok = typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    if (!ok) this.#onAboveWatermark();
    return ok;
  }

  /** Writes the joined text now (before an end(), or when a large write must follow it). */
  flush(): void {
    const text = this.#pendingText;
    if (text === null) return;
    this.#pendingText = null;
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (!socket.write(text, 'latin1')) this.#onAboveWatermark();
  }
}
