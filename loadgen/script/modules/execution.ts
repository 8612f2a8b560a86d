// k6/execution: read-only views of the VU, its scenario and the instance, plus test.abort() and
// test.fail().
import type { TestContext, VuState } from '../context.js';

export class AbortSignalError extends Error {}

export function createExecutionModule(test: TestContext, vu: VuState, inInit: () => boolean): Record<string, unknown> {
  const tags = new Proxy(vu.customTags, {
    get: (target, key) => (typeof key === 'string' ? (vu.tags[key] ?? target[key]) : undefined),
    set: (target, key, value) => {
      if (typeof key !== 'string') return false;
      target[key] = String(value);
      vu.tags = { ...vu.tags, [key]: String(value) };
      return true;
    },
  });
  const mod: Record<string, unknown> = {
    vu: {
      get idInTest() {
        return vu.idInTest;
      },
      get idInInstance() {
        return vu.idInTest;
      },
      get iterationInInstance() {
        return vu.iterationInInstance;
      },
      get iterationInScenario() {
        return vu.iteration;
      },
      tags,
      metrics: { tags },
    },
    scenario: {
      get name() {
        return vu.scenario?.name ?? '';
      },
      get executor() {
        return vu.scenario?.executor ?? '';
      },
      get startTime() {
        return vu.scenario === null ? 0 : Math.round(performance.timeOrigin + vu.scenario.startedAt);
      },
      get progress() {
        return vu.scenario?.progress() ?? 0;
      },
      get iterationInInstance() {
        return vu.scenario?.iterations ?? 0;
      },
      get iterationInTest() {
        return vu.scenario?.iterations ?? 0;
      },
    },
    instance: {
      get vusActive() {
        return test.instance().vusActive;
      },
      get vusInitialized() {
        return test.instance().vusInitialized;
      },
      get iterationsCompleted() {
        return test.instance().iterationsCompleted;
      },
      get iterationsInterrupted() {
        return test.instance().iterationsInterrupted;
      },
      get currentTestRunDuration() {
        return performance.now() - test.startedAt;
      },
    },
    test: {
      abort: (reason?: string): never => {
        const r = reason ?? 'test aborted by the script';
        test.abort(r);
        throw new AbortSignalError(r);
      },
      /** Marks the run as failed (exit code 110) and lets it go on, as k6 does. */
      fail: (reason?: string): void => {
        if (inInit()) throw new Error('execution.test.fail() called outside of VU context');
        test.log(
          'error',
          reason === undefined || reason === null
            ? 'test marked as failed'
            : `test marked as failed: ${String(reason)}`,
        );
        test.markFailed();
      },
      get options() {
        return test.scriptOptions;
      },
    },
  };
  mod.default = mod;
  return mod;
}
