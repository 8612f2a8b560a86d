// Envoy's local rate limit token bucket: starts full with `max_tokens`, gains `tokens_per_fill`
// every `fill_interval` up to `max_tokens`. Refills are computed from the clock when a token is
// asked for, so an idle bucket costs no timer.

export class TokenBucket {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  #tokens: number;
  #lastFill: number;
  readonly #now: () => number;

  constructor(
    maxTokens: number,
    tokensPerFill: number,
    fillIntervalMs: number,
    now: () => number = performance.now.bind(performance),
  ) {
    this.maxTokens = maxTokens;
    this.tokensPerFill = tokensPerFill;
    this.fillIntervalMs = fillIntervalMs;
    this.#now = now;
    this.#tokens = maxTokens;
    this.#lastFill = now();
  }

  #refill(now: number): void {
    const intervals = Math.floor((now - this.#lastFill) / this.fillIntervalMs);
    if (intervals <= 0) return;
    this.#tokens = Math.min(this.maxTokens, this.#tokens + intervals * this.tokensPerFill);
    this.#lastFill += intervals * this.fillIntervalMs;
  }

  /** Takes one token; false when the bucket is empty. */
  consume(): boolean {
    this.#refill(this.#now());
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }

  remaining(): number {
    this.#refill(this.#now());
    return this.#tokens;
  }

  /** Whole seconds until the next fill, as `x-ratelimit-reset` reports it. */
  secondsUntilFill(): number {
    const now = this.#now();
    this.#refill(now);
    return Math.max(0, Math.ceil((this.#lastFill + this.fillIntervalMs - now) / 1000));
  }
}
