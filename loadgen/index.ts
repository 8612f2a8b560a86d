// The load generator's public face: run a k6-compatible script and get the exit code, summary data
// and typed errors back. The CLI (cli/load.ts) only parses flags and calls runTest.
export { runTest, type RunTestOptions, type TestResult } from './engine.js';
export {
  LoadgenError,
  InvalidConfigError,
  ScriptError,
  TestAbortedError,
  ThresholdAbortError,
  ExternalAbortError,
} from './errors.js';
export type { SummaryData, SummaryMetric } from './summary/data.js';
export type { SummaryMode } from './summary/text.js';
export { optionsFromEnv, parseStages, envName, type RuntimeFromEnv } from './env-options.js';
export { LOG_FORMATS, type LogFormat } from './log.js';
