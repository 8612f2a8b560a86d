// Deep equality for values that cross realms. The VUs' script runs in a context of its own, so an
// array it writes and an array a module hands it (parsed JSON, a response) have different
// Array.prototypes, and node:util's isDeepStrictEqual, which compares prototypes, calls them
// unequal. Here two values are alike when their kinds (Object.prototype.toString's tag) and
// contents are: what chai's and k6-testing's deep equality mean to a script author.
import { types } from 'node:util';

const tag = (v: object): string => Object.prototype.toString.call(v);

export function deepEqualAcrossRealms(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (tag(a) !== tag(b)) return false;
  if (seen.get(a) === b) return true; // a cycle already being compared
  seen.set(a, b);
  if (types.isDate(a)) return a.getTime() === (b as Date).getTime();
  if (types.isRegExp(a)) return String(a) === String(b);
  if (types.isBoxedPrimitive(a)) return Object.is(a.valueOf(), (b as { valueOf(): unknown }).valueOf());
  if (types.isAnyArrayBuffer(a) || ArrayBuffer.isView(a)) {
    const x = types.isAnyArrayBuffer(a) ? new Uint8Array(a) : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = types.isAnyArrayBuffer(b)
      ? new Uint8Array(b)
      : new Uint8Array(
          (b as ArrayBufferView).buffer,
          (b as ArrayBufferView).byteOffset,
          (b as ArrayBufferView).byteLength,
        );
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (types.isMap(a)) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return false;
    for (const [k, v] of a) if (!m.has(k) || !deepEqualAcrossRealms(v, m.get(k), seen)) return false;
    return true;
  }
  if (types.isSet(a)) {
    const s = b as Set<unknown>;
    return a.size === s.size && [...a].every((v) => s.has(v) || [...s].some((w) => deepEqualAcrossRealms(v, w, seen)));
  }
  if (Array.isArray(a)) {
    const y = b as unknown[];
    return a.length === y.length && a.every((v, i) => deepEqualAcrossRealms(v, y[i], seen));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && deepEqualAcrossRealms(ra[k], rb[k], seen));
}
