// Loads every executor module so each registers itself.
import './shared-iterations.js';
import './per-vu-iterations.js';
import './constant-vus.js';
import './ramping-vus.js';
import './constant-arrival-rate.js';
import './ramping-arrival-rate.js';

export { executorFactory, executorNames } from './registry.js';
export type { Executor, ExecutionHooks } from './base.js';
