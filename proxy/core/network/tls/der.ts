// A minimal DER reader (tag, length, value) for the few structures TLS material needs read
// that Node's crypto does not parse: OCSP responses (ocsp.ts) and certificate revocation lists.

export class DerParseError extends Error {}

export interface Tlv {
  readonly tag: number;
  readonly body: Buffer;
  /** Offset just past this element. */
  readonly end: number;
}

export function readTlv(buf: Buffer, at: number, what: string): Tlv {
  if (at + 2 > buf.length) throw new DerParseError(`${what} is truncated`);
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new DerParseError(`${what} has a bad length`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new DerParseError(`${what} is truncated`);
  return { tag, body: buf.subarray(start, start + len), end: start + len };
}

/** The elements of a constructed element's body, in order. */
export function children(body: Buffer, what: string): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < body.length; ) {
    const t = readTlv(body, at, what);
    out.push(t);
    at = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw new DerParseError(`${what} is not well-formed`);
  return t;
}
