// A state-of-the-world DiscoveryRequest read straight from its protobuf bytes. After an edit
// every sidecar ACKs, and at a thousand sidecars the generic codec's decode (message tree, then
// JSON) was a visible share of the edit's CPU; an ACK is a few strings. A request this reader
// does not cover — one carrying the node (a stream's first) or any other field — returns
// undefined and goes through the codec as before. Field numbers are
// envoy.service.discovery.v3.DiscoveryRequest's: version_info 1, node 2, resource_names 3,
// type_url 4, response_nonce 5, error_detail 6 (google.rpc.Status: code 1, message 2).
import { ControlPlaneError } from '../errors.js';
import { TYPE_URL } from '../translate/envoy.js';
import type { DiscoveryRequest } from './protocol.js';

export class RequestDecodeError extends ControlPlaneError {
  constructor(message: string) {
    super('MS_ERR_XDS_REQUEST_DECODE', message);
  }
}

class Reader {
  readonly #b: Buffer;
  pos: number;
  readonly end: number;

  constructor(b: Buffer, pos: number, end: number) {
    this.#b = b;
    this.pos = pos;
    this.end = end;
  }

  varint(): number {
    // One byte (keys, short lengths) is the usual case.
    if (this.pos < this.end && (this.#b[this.pos] as number) < 0x80) return this.#b[this.pos++] as number;
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RequestDecodeError('truncated varint');
      const byte = this.#b[this.pos++] as number;
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) return n;
      mul *= 128;
    }
    throw new RequestDecodeError('varint longer than 10 bytes');
  }

  /** Steps over a length-delimited field's bytes and returns where they start (they end at `pos`). */
  span(): number {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new RequestDecodeError(`field of ${len} bytes runs past the message`);
    this.pos = start + len;
    return start;
  }

  string(): string {
    const start = this.span();
    return this.#b.toString('utf8', start, this.pos);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.pos += 4;
    else throw new RequestDecodeError(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new RequestDecodeError('field runs past the message');
  }
}

function readStatus(b: Buffer, start: number, end: number): { code?: number; message?: string } {
  const r = new Reader(b, start, end);
  const status: { code?: number; message?: string } = {};
  while (r.pos < r.end) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1 && wire === 0) status.code = r.varint() | 0;
    else if (field === 2 && wire === 2) status.message = r.string();
    else r.skip(wire);
  }
  return status;
}

/** Subscriptions remembered by their encoded bytes, per stream. */
const MAX_REMEMBERED = 16;
/** Distinct encoded subscriptions interned across streams; cleared past the bound. */
const MAX_INTERNED_NAMES = 4096;
/**
 * Encoded subscriptions (the resource_names fields as the client sent them) by their bytes: the
 * streams of sidecars that subscribe alike hold one Buffer, so what is built from it (the bytes
 * of the ACK a push asks for, ads.ts) is built once per push, not once per stream.
 */
const internedNames = new Map<string, Buffer>();

function internNames(bytes: Buffer): Buffer {
  const key = bytes.toString('latin1');
  let interned = internedNames.get(key);
  if (interned === undefined) {
    if (internedNames.size >= MAX_INTERNED_NAMES) internedNames.clear();
    interned = Buffer.from(bytes);
    internedNames.set(key, interned);
  }
  return interned;
}

/** The encoded resource_names of a request without any (a wildcard subscription). */
export const NO_NAMES: Buffer = Buffer.alloc(0);
/** The key byte of a resource_names field (3, length-delimited). */
const NAMES_KEY = (3 << 3) | 2;

/** The type URLs as bytes: an ACK's type_url is matched, not decoded, and comes back as the same string. */
const KNOWN_TYPE_URLS: ReadonlyArray<readonly [Buffer, string]> = Object.values(TYPE_URL).map((u) => [
  Buffer.from(u, 'latin1'),
  u,
]);

function typeUrlAt(b: Buffer, start: number, end: number): string {
  const length = end - start;
  for (const [bytes, url] of KNOWN_TYPE_URLS)
    if (bytes.length === length && b.compare(bytes, 0, length, start, end) === 0) return url;
  return b.toString('utf8', start, end);
}

/**
 * Reads one stream's requests. An ACK repeats its subscription — a sidecar's EDS ACK names
 * every cluster — so a repeated subscription is recognised by comparing its encoded bytes with
 * the ones seen before (no decoding, no text built to look it up) and comes back as the same
 * (frozen) array.
 */
export class DiscoveryRequestReader {
  /** Recent subscriptions: a copy of their encoded resource_names fields, and the names. */
  #names: Array<{ bytes: Buffer; names: readonly string[] }> = [];
  /**
   * The last request's resource_names fields as sent (interned: equal bytes are one Buffer;
   * NO_NAMES for none), or undefined when they were not one run of fields.
   */
  lastNames: Buffer | undefined = undefined;

  /** The request, or undefined when it needs the full codec (see the header). */
  read(b: Buffer): DiscoveryRequest | undefined {
    this.lastNames = undefined;
    const r = new Reader(b, 0, b.length);
    const req: DiscoveryRequest = {};
    let namesStart = -1;
    let namesEnd = -1;
    let contiguous = true;
    let seenBytes: Buffer | undefined;
    while (r.pos < r.end) {
      const fieldStart = r.pos;
      const key = r.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire !== 2 || field < 1 || field > 6 || field === 2) return undefined;
      if (field === 3) {
        if (namesStart === -1) {
          namesStart = fieldStart;
          const seen = this.#seen(b, fieldStart);
          if (seen !== undefined) {
            // The whole subscription as before: stepped over at once, not name by name.
            req.resource_names = seen.names as string[];
            seenBytes = seen.bytes;
            r.pos = namesEnd = fieldStart + seen.bytes.length;
            continue;
          }
        } else if (namesEnd !== fieldStart) contiguous = false;
        r.span();
        namesEnd = r.pos;
      } else if (field === 1) req.version_info = r.string();
      else if (field === 4) {
        const start = r.span();
        req.type_url = typeUrlAt(b, start, r.pos);
      } else if (field === 5) req.response_nonce = r.string();
      else {
        const start = r.span();
        req.error_detail = readStatus(b, start, r.pos);
      }
    }
    if (namesStart === -1) {
      this.lastNames = NO_NAMES;
      return req;
    }
    if (!contiguous) {
      this.lastNames = undefined;
      req.resource_names = readNames(b, 0, b.length);
      return req;
    }
    if (req.resource_names !== undefined) {
      this.lastNames = seenBytes;
      return req;
    }
    const names = Object.freeze(readNames(b, namesStart, namesEnd));
    if (this.#names.length >= MAX_REMEMBERED) this.#names.shift();
    const bytes = internNames(b.subarray(namesStart, namesEnd));
    this.#names.push({ bytes, names });
    this.lastNames = bytes;
    req.resource_names = names as string[];
    return req;
  }

  /**
   * A remembered subscription whose encoded fields are the bytes at `start`, up to the end of
   * the message or a field other than resource_names.
   */
  #seen(b: Buffer, start: number): { bytes: Buffer; names: readonly string[] } | undefined {
    for (const seen of this.#names) {
      const end = start + seen.bytes.length;
      if (end > b.length || (end < b.length && b[end] === NAMES_KEY)) continue;
      if (b.compare(seen.bytes, 0, seen.bytes.length, start, end) === 0) return seen;
    }
    return undefined;
  }
}

/** The resource_names fields (3) between start and end. */
function readNames(b: Buffer, start: number, end: number): string[] {
  const r = new Reader(b, start, end);
  const names: string[] = [];
  while (r.pos < r.end) {
    const key = r.varint();
    if (key === NAMES_KEY) names.push(r.string());
    else r.skip(key & 7);
  }
  return names;
}
