// k6's randomSeed(n): from then on the VU's Math.random is a deterministic sequence of n, so two
// runs (and two VUs) seeded alike draw the same numbers. k6 uses Go's math/rand; this is
// xoshiro128** seeded through splitmix32, the same promise (same seed, same sequence), not k6's
// exact numbers. Only the calling VU's Math changes: each VU has its own realm.

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A Math.random replacement seeded by `seed` (an integer; its low 53 bits count). */
export function seededRandom(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new TypeError(`randomSeed: the seed must be a number, got ${String(seed)}`);
  const n = Math.trunc(seed);
  const mix = splitmix32((n % 0x100000000) ^ Math.floor(n / 0x100000000));
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const next = (): number => {
    const r = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = ((d << 11) | (d >>> 21)) >>> 0;
    return r;
  };
  // 53 random bits, as V8's own Math.random gives.
  return () => ((next() >>> 5) * 0x4000000 + (next() >>> 6)) / 0x20000000000000;
}
