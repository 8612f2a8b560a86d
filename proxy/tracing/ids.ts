// Trace and span ids from a pooled random buffer: one crypto fill per 4 KiB of ids instead of
// one syscall per id, and hex through a lookup table instead of Buffer#toString per id.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

function hexBytes(n: number): string {
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  let out = '';
  let allZero = true;
  for (let i = 0; i < n; i++) {
    const b = pool[offset + i]!;
    if (b !== 0) allZero = false;
    out += HEX[b]!;
  }
  offset += n;
  // An all-zero id is invalid in both W3C and B3; astronomically rare, but never emit one.
  return allZero ? hexBytes(n) : out;
}

/** A new 128-bit trace id, 32 lower-case hex digits. */
export function newTraceId(): string {
  return hexBytes(16);
}

/** A new 64-bit span id, 16 lower-case hex digits. */
export function newSpanId(): string {
  return hexBytes(8);
}
