// k6/metrics: Counter, Gauge, Rate, Trend. Creating one registers the metric test-wide (every VU's
// init code creates it again and gets the same metric); add() tags samples with the VU's tags.
import type { MetricType } from '../../metrics/registry.js';
import type { TestContext, VuState } from '../context.js';

export function createMetricsModule(test: TestContext, vu: VuState): Record<string, unknown> {
  const make = (type: MetricType) =>
    class {
      readonly name: string;
      readonly #metric;
      constructor(name: string, isTime = false) {
        this.name = name;
        this.#metric = test.registry.get(name, type, type === 'trend' && isTime ? 'time' : 'default');
      }
      add(value: number | boolean, tags?: Record<string, string | number | boolean>): void {
        const v = typeof value === 'boolean' ? (value ? 1 : 0) : Number(value);
        if (!Number.isFinite(v))
          throw new Error(`${this.name}.add: value must be a finite number, got ${String(value)}`);
        let t = vu.tags;
        if (tags) {
          const merged: Record<string, string> = { ...t };
          for (const [k, val] of Object.entries(tags)) merged[k] = String(val);
          t = merged;
        }
        this.#metric.add(v, t);
      }
    };
  const mod: Record<string, unknown> = {
    Counter: make('counter'),
    Gauge: make('gauge'),
    Rate: make('rate'),
    Trend: make('trend'),
  };
  mod.default = mod;
  return mod;
}
