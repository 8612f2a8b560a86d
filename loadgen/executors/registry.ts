// Executors register themselves by their k6 name; the registry refuses duplicates.
import type { z } from 'zod';
import type { BaseConfig } from './config.js';
import type { Executor, ExecutionHooks } from './base.js';

export interface ExecutorFactory<C extends BaseConfig = BaseConfig> {
  readonly schema: z.ZodType<C>;
  create(name: string, config: C, hooks: ExecutionHooks): Executor;
}

const factories = new Map<string, ExecutorFactory>();

export function registerExecutor<C extends BaseConfig>(name: string, factory: ExecutorFactory<C>): void {
  if (factories.has(name)) throw new Error(`executor '${name}' is already registered`);
  factories.set(name, factory as unknown as ExecutorFactory);
}

export function executorFactory(name: string): ExecutorFactory | undefined {
  return factories.get(name);
}

export function executorNames(): string[] {
  return [...factories.keys()];
}
