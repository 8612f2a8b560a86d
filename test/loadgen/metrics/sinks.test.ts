// Trend percentiles: sub-32.768 ms samples are counted in a flat array before they reach the HDR
// histogram; the figures must be the ones a plain 3-digit HDR histogram gives.
import { describe, expect, it } from 'vitest';
import * as hdr from 'hdr-histogram-js';
import { TrendSink } from '../../../loadgen/metrics/sinks.js';

describe('TrendSink', () => {
  it('reports the percentiles of a 3-significant-digit HDR histogram, reads interleaved with adds', () => {
    const trend = new TrendSink();
    const reference = hdr.build({ numberOfSignificantValueDigits: 3, autoResize: true, bitBucketSize: 32 });
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20000; i++) {
        const v = next() < 0.7 ? next() * 3 : next() ** 4 * 5000;
        trend.add(v);
        reference.recordValue(Math.round(v * 1000));
      }
      for (const p of [1, 25, 50, 90, 95, 99, 99.9]) {
        const expected = Math.min(Math.max(reference.getValueAtPercentile(p) / 1000, trend.min), trend.max);
        expect(trend.percentile(p)).toBe(expected);
      }
    }
    expect(trend.count).toBe(60000);
  });
});
