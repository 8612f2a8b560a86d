// The live progress line: on a TTY it is rewritten in place every second; otherwise one line is
// printed every 10 s so logs and CI output are not flooded.
import type { Writable } from 'node:stream';
import { formatDuration } from '../duration.js';

export interface ProgressSnapshot {
  vusActive: number;
  vusMax: number;
  iterations: number;
  httpReqs: number;
  elapsedMs: number;
  totalMs: number;
}

export class ProgressLine {
  readonly #stream: Writable & { isTTY?: boolean };
  readonly #snapshot: () => ProgressSnapshot;
  readonly #tty: boolean;
  #timer: NodeJS.Timeout | undefined;
  #lastReqs = 0;
  #lastAt = 0;
  #dirty = false;

  constructor(stream: Writable & { isTTY?: boolean }, snapshot: () => ProgressSnapshot) {
    this.#stream = stream;
    this.#snapshot = snapshot;
    this.#tty = Boolean(stream.isTTY);
  }

  start(): void {
    this.#timer = setInterval(() => this.#print(), this.#tty ? 1000 : 10_000);
    this.#timer.unref();
  }

  #print(): void {
    const s = this.#snapshot();
    const dt = (s.elapsedMs - this.#lastAt) / 1000;
    const rps = dt > 0 ? (s.httpReqs - this.#lastReqs) / dt : 0;
    this.#lastReqs = s.httpReqs;
    this.#lastAt = s.elapsedMs;
    const total = s.totalMs > 0 ? `/${formatDuration(s.totalMs)}` : '';
    const text = `running (${formatDuration(Math.round(s.elapsedMs / 100) * 100)}${total}), ${s.vusActive}/${s.vusMax} VUs, ${s.iterations} complete iterations, ${Math.round(rps)} req/s`;
    if (this.#tty) {
      this.#stream.write(`\r\x1b[K${text}`);
      this.#dirty = true;
    } else this.#stream.write(`${text}\n`);
  }

  stop(): void {
    clearInterval(this.#timer);
    if (this.#dirty) this.#stream.write('\r\x1b[K');
  }
}
