// k6's WebCrypto: the `crypto` global (getRandomValues, randomUUID, subtle) that k6 took over from
// k6/experimental/webcrypto, which older scripts still import. Node's webcrypto is the same W3C
// API; the VU's binary constructors are this realm's (globals.ts), so the buffers a script passes
// and gets back are the ones Node's implementation checks for.
import { webcrypto } from 'node:crypto';
import { registerVuGlobals } from '../globals.js';

registerVuGlobals('k6/experimental/webcrypto', ['crypto']);

export function createWebCryptoModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = { crypto: webcrypto };
  mod.default = mod;
  return mod;
}
