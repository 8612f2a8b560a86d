// x-request-id generation for every request without an id. crypto.randomUUID() builds each UUID
// from several intermediate strings (about 0.6 KB of garbage per request under load, measured
// with allocation sampling); here the hex digits go into one reused 36-byte buffer and a single
// latin1 string is made from it. Randomness comes from a pooled CSPRNG refill, as in randomUUID.
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

// One refill per 4096 ids (64 KiB): at 256 (4 KiB) the refills, each a call into OpenSSL, were
// ~0.5% of the request thread's CPU under wrk -c50 (perf); the pool's bytes are used once each.
const POOL_UUIDS = 4096;
const pool = Buffer.allocUnsafe(16 * POOL_UUIDS);
let next = POOL_UUIDS;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const out = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');
/** Offsets in `out` of each byte's two hex digits (dashes at 8, 13, 18, 23 stay put). */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** A random (version 4, RFC 9562) UUID in lower-case hex. */
export function randomRequestId(): string {
  if (next === POOL_UUIDS) {
    randomFillSync(pool);
    next = 0;
  }
  const base = next++ * 16;
  for (let i = 0; i < 16; i++) {
    let b = pool[base + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    const at = AT[i]!;
    out[at] = HEX[b >> 4]!;
    out[at + 1] = HEX[b & 0x0f]!;
  }
  return out.toString('latin1', 0, 36);
}
