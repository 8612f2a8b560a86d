// Outputs receive every sample (as SampleObservers) and must never block execution: they buffer
// with a bound, count what they drop, and flush on their own timers.
import type { SampleObserver } from '../metrics/registry.js';

export interface Output extends SampleObserver {
  readonly name: string;
  start(): Promise<void>;
  /** Flushes what is buffered and releases resources. */
  stop(): Promise<void>;
  /** Samples dropped because the buffer was full. */
  readonly dropped: number;
}

/** What an output may need beyond its argument. */
export interface OutputParams {
  /** Threshold sources by metric name (k6's JSON output lists them on each metric). */
  readonly thresholds: ReadonlyMap<string, readonly string[]>;
  /** The process environment, for outputs configured by K6_* variables as in k6. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Async so heavy outputs (the OpenTelemetry SDK) load only when asked for. */
export type OutputFactory = (arg: string, params: OutputParams) => Promise<Output>;

const factories = new Map<string, OutputFactory>();

export function registerOutput(name: string, factory: OutputFactory): void {
  if (factories.has(name)) throw new Error(`output '${name}' is already registered`);
  factories.set(name, factory);
}

export function outputFactory(name: string): OutputFactory | undefined {
  return factories.get(name);
}

export function outputNames(): string[] {
  return [...factories.keys()];
}
