// Socket writes of one event-loop tick leave in one syscall. Small writes (a response head and
// a small body, a request head) are joined as latin1 text, which preserves bytes, and written
// once at the end of the tick: one write() of one string, with no corked write queue, no
// writev array and no per-chunk write requests (about 1 KB less garbage per proxied request,
// measured with allocation sampling). Larger writes cork behind the joined text and go out in
// one writev. Shared by the downstream connection and the upstream connection pool.
import type { Socket } from 'node:net';

/** Writes of one tick up to this many bytes are joined into one string. */
const JOIN_MAX = 4096;

export class TickWriter {
  readonly #socket: Socket;
  /** Called when a write lands above the socket's high-water mark (flow control). */
  readonly #onAboveWatermark: () => void;
  #pendingText: string | null = null;
  #corked = false;
  readonly #flushTick = (): void => {
    this.flush();
    if (this.#corked) {
      this.#corked = false;
      this.#socket.uncork();
    }
  };

  constructor(socket: Socket, onAboveWatermark: () => void = () => {}) {
    this.#socket = socket;
    this.#onAboveWatermark = onAboveWatermark;
  }

  /**
   * Queues `data` for this tick's write. `join` false never holds bytes back as text (a
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
        process.nextTick(this.#flushTick);
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
      if (pending === null) process.nextTick(this.#flushTick);
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
