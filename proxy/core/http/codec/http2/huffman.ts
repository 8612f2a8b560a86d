// HPACK's Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical: the RFC's table is
// fully given by each symbol's code length, so only the 257 lengths are written here and the
// codes are rebuilt at load. Decoding walks four bits at a time through a transition table
// built once from the code tree (state × nibble → next state, emitted symbol, flags), so a
// string costs two table reads per octet.

/** Code length in bits of each symbol 0–255 and EOS (256), in the RFC's table order. */
// biome-ignore format: one row per 32 symbols, as the RFC's table runs
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Each symbol's code, right-aligned (the lengths above say how many bits). */
export const HUFFMAN_CODES: Uint32Array = (() => {
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  const codes = new Uint32Array(257);
  let code = 0;
  let prevLen = CODE_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    const len = CODE_LENGTHS[s]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prevLen);
    prevLen = len;
    codes[s] = code;
  }
  return codes;
})();

export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from(CODE_LENGTHS);

/*
 * The decoder's tables. The code tree has 256 internal nodes (state 0 is the root); for each
 * state and nibble, NEXT holds the state after the four bits, SYM the symbol completed on the
 * way (-1 for none; a nibble completes at most one, the shortest code being five bits long) and
 * FAIL says EOS was met. ACCEPT marks the states a string may end in: the root, or a path of
 * at most seven one-bits from it (the padding, a prefix of EOS).
 */
const STATES = 256;
const NEXT = new Uint8Array(STATES * 16);
const SYM = new Int16Array(STATES * 16);
const FAIL = new Uint8Array(STATES * 16);
const ACCEPT = new Uint8Array(STATES);

(() => {
  // children[2 * node + bit]: >= 0 an internal node, < 0 the leaf -(symbol + 1).
  const children = new Int32Array(STATES * 2).fill(0x7fffffff);
  const depth = new Uint8Array(STATES);
  const allOnes = new Uint8Array(STATES);
  allOnes[0] = 1;
  let nodes = 1;
  for (let s = 0; s <= EOS; s++) {
    const len = CODE_LENGTHS[s]!;
    const code = HUFFMAN_CODES[s]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        children[slot] = -(s + 1);
        break;
      }
      let child = children[slot]!;
      if (child === 0x7fffffff) {
        child = nodes++;
        children[slot] = child;
        depth[child] = depth[node]! + 1;
        allOnes[child] = allOnes[node]! & bit;
      }
      node = child;
    }
  }
  for (let st = 0; st < STATES; st++) {
    ACCEPT[st] = st === 0 || (allOnes[st] === 1 && depth[st]! <= 7) ? 1 : 0;
    for (let nib = 0; nib < 16; nib++) {
      let node = st;
      let sym = -1;
      let fail = 0;
      for (let b = 3; b >= 0; b--) {
        const child = children[2 * node + ((nib >> b) & 1)]!;
        if (child >= 0) {
          node = child;
          continue;
        }
        const s = -child - 1;
        if (s === EOS) fail = 1;
        sym = s;
        node = 0;
      }
      const i = st * 16 + nib;
      NEXT[i] = node;
      SYM[i] = sym;
      FAIL[i] = fail;
    }
  }
})();

/** Scratch space for decoded strings; grows to the longest seen (bounded by the header list limit). */
let scratch = Buffer.allocUnsafe(4096);

/** Decodes `src[start, end)`; null when the input is not a valid Huffman string (EOS, bad padding). */
export function huffmanDecode(src: Buffer, start: number, end: number): string | null {
  // Each octet yields at most 8/5 symbols.
  const max = Math.ceil(((end - start) * 8) / 5) + 1;
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const octet = src[i]!;
    let t = state * 16 + (octet >> 4);
    if (FAIL[t] === 1) return null;
    let sym = SYM[t]!;
    if (sym >= 0) out[n++] = sym;
    state = NEXT[t]!;
    t = state * 16 + (octet & 15);
    if (FAIL[t] === 1) return null;
    sym = SYM[t]!;
    if (sym >= 0) out[n++] = sym;
    state = NEXT[t]!;
  }
  if (ACCEPT[state] !== 1) return null;
  return out.toString('latin1', 0, n);
}

/** Octets the Huffman encoding of `s` (latin1) takes. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/**
 * Writes the Huffman encoding of `s` at `dst[pos]`; returns the position after it, or -1 once
 * it would end past `limit` (an encoder trying the code against the plain string stops there;
 * up to four octets past `limit` may have been written). Whole octets leave the accumulator as
 * they fill, so it holds under eight bits between symbols and a code of up to 24 bits is
 * shifted in at once within 31; the longer ones (control and high octets, 25 to 30 bits) go in
 * two pieces.
 */
export function huffmanEncode(s: string, dst: Buffer, pos: number, limit = Number.MAX_SAFE_INTEGER): number {
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[c]!;
    const code = HUFFMAN_CODES[c]!;
    if (len > 24) {
      acc = (acc << (len - 16)) | (code >>> 16);
      bits += len - 16;
      while (bits >= 8) {
        bits -= 8;
        dst[pos++] = (acc >>> bits) & 0xff;
      }
      acc = ((acc & ((1 << bits) - 1)) << 16) | (code & 0xffff);
      bits += 16;
    } else {
      acc = (acc << len) | code;
      bits += len;
    }
    while (bits >= 8) {
      bits -= 8;
      dst[pos++] = (acc >>> bits) & 0xff;
    }
    if (pos > limit) return -1;
    acc &= (1 << bits) - 1;
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) dst[pos++] = ((acc << (8 - bits)) | (0xff >>> bits)) & 0xff;
  return pos > limit ? -1 : pos;
}
