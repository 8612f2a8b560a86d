import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../proxy/extensions/filters/http/local_ratelimit/token-bucket.js';

describe('local rate limit token bucket', () => {
  it('starts full, refills tokens_per_fill per fill_interval up to max_tokens', () => {
    let now = 0;
    const bucket = new TokenBucket(3, 2, 1000, () => now);
    expect([bucket.consume(), bucket.consume(), bucket.consume(), bucket.consume()]).toEqual([true, true, true, false]);
    expect(bucket.secondsUntilFill()).toBe(1);
    now = 999;
    expect(bucket.consume()).toBe(false);
    now = 1000;
    expect(bucket.remaining()).toBe(2);
    now = 10_000;
    expect(bucket.remaining()).toBe(3);
  });
});
