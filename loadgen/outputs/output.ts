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

/** Async so heavy outputs (the OpenTelemetry SDK) load only when asked for. */
export type OutputFactory = (arg: string) => Promise<Output>;

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
