// k6/data SharedArray: the loader runs once per test (not per VU) and every VU reads the same frozen array.
import type { TestContext } from '../context.js';

export function createDataModule(test: TestContext): Record<string, unknown> {
  class SharedArray {
    constructor(name: string, loader: () => unknown[]) {
      if (typeof name !== 'string' || name === '') throw new Error('SharedArray needs a non-empty name');
      let data = test.sharedArrays.get(name);
      if (data === undefined) {
        if (typeof loader !== 'function') throw new Error('SharedArray needs a function returning an array');
        const value = loader();
        if (!Array.isArray(value)) throw new Error(`SharedArray '${name}': the function must return an array`);
        data = Object.freeze(value.map((v: unknown) => Object.freeze(v)));
        test.sharedArrays.set(name, data);
      }
      // biome-ignore lint/correctness/noConstructorReturn: k6's SharedArray constructor hands out the frozen shared array itself
      return data as unknown as SharedArray;
    }
  }
  const mod: Record<string, unknown> = { SharedArray };
  mod.default = mod;
  return mod;
}
