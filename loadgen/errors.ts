// Typed errors of the load generator. Each carries a stable MS_ERR_* code and the process exit
// code k6 uses for the same failure, so the CLI maps errors to exit codes without string matching.
import { MeshscopeError } from '../shared/errors.js';

export class LoadgenError extends MeshscopeError {
  readonly exitCode: number;
  constructor(code: string, exitCode: number, message: string) {
    super(code, message);
    this.exitCode = exitCode;
  }
}

/** Invalid options (script `options`, CLI flags): k6 exit code 104. Lists every problem at once. */
export class InvalidConfigError extends LoadgenError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('MS_ERR_LOADGEN_INVALID_CONFIG', 104, `invalid options:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** Syntax error or exception in init code, setup() or teardown(): k6 exit code 107. */
export class ScriptError extends LoadgenError {
  /** `file:line:column` in the user's source, when known. */
  readonly location: string | undefined;
  constructor(message: string, location: string | undefined) {
    super('MS_ERR_LOADGEN_SCRIPT', 107, location === undefined ? message : `${message}\n\tat ${location}`);
    this.location = location;
  }
}

/** `exec.test.abort()` from the script: k6 exit code 108. */
export class TestAbortedError extends LoadgenError {
  constructor(reason: string) {
    super('MS_ERR_LOADGEN_TEST_ABORTED', 108, `test aborted: ${reason}`);
  }
}

/** The run was stopped from outside (SIGINT/SIGTERM): k6 exit code 105. */
export class ExternalAbortError extends LoadgenError {
  constructor() {
    super('MS_ERR_LOADGEN_EXTERNAL_ABORT', 105, 'test run stopped by a signal');
  }
}

/** A threshold with abortOnFail crossed: k6 exits 99 as for failed thresholds. */
export class ThresholdAbortError extends LoadgenError {
  constructor(metric: string, threshold: string) {
    super('MS_ERR_LOADGEN_THRESHOLD_ABORT', 99, `threshold '${threshold}' on ${metric} crossed with abortOnFail`);
  }
}

/** setup() or teardown() ran past setupTimeout/teardownTimeout: k6 exits 100 and 101. */
export class LifecycleTimeoutError extends LoadgenError {
  constructor(fn: 'setup' | 'teardown', timeoutMs: number) {
    super(
      fn === 'setup' ? 'MS_ERR_LOADGEN_SETUP_TIMEOUT' : 'MS_ERR_LOADGEN_TEARDOWN_TIMEOUT',
      fn === 'setup' ? 100 : 101,
      `${fn}() execution timed out after ${timeoutMs / 1000} seconds`,
    );
  }
}

/** Thrown into a VU's iteration when the executor stops it (gracefulStop ran out); never user-visible. */
export class IterationInterruptedError extends LoadgenError {
  constructor() {
    super('MS_ERR_LOADGEN_INTERRUPTED', 0, 'iteration interrupted');
  }
}

export const EXIT_THRESHOLDS_FAILED = 99;
/** k6's exit code for a run the script marked as failed with exec.test.fail(). */
export const EXIT_MARKED_AS_FAILED = 110;
