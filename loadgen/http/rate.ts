// k6's --rps: a test-wide ceiling on requests per second, across every VU. Requests are spaced
// 1/rps apart: each takes the next free slot and waits for it, so a burst of VUs is spread out
// instead of sent at once and then starved. Waiting requests are bounded by the number of VUs.

export class RequestRate {
  readonly #intervalMs: number;
  #next = 0;

  constructor(perSecond: number) {
    if (!(perSecond > 0)) throw new RangeError(`rps must be positive, got ${perSecond}`);
    this.#intervalMs = 1000 / perSecond;
  }

  /** Undefined when the request may go now; otherwise resolves when its slot comes. */
  readonly acquire = (): Promise<void> | undefined => {
    const now = performance.now();
    if (this.#next <= now) {
      this.#next = now + this.#intervalMs;
      return undefined;
    }
    const wait = this.#next - now;
    this.#next += this.#intervalMs;
    return new Promise<void>((resolve) => setTimeout(resolve, wait));
  };
}
