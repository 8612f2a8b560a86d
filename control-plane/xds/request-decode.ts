// A state-of-the-world DiscoveryRequest read straight from its protobuf bytes. After an edit
// every sidecar ACKs, and at a thousand sidecars the generic codec's decode (message tree, then
// JSON) was a visible share of the edit's CPU; an ACK is a few strings. A request this reader
// does not cover — one carrying the node (a stream's first) or any other field — returns
// undefined and goes through the codec as before. Field numbers are
// envoy.service.discovery.v3.DiscoveryRequest's: version_info 1, node 2, resource_names 3,
// type_url 4, response_nonce 5, error_detail 6 (google.rpc.Status: code 1, message 2).
import { ControlPlaneError } from '../errors.js';
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

  /** The bounds of a length-delimited field's bytes. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new RequestDecodeError(`field of ${len} bytes runs past the message`);
    this.pos = start + len;
    return [start, start + len];
  }

  string(): string {
    const [start, end] = this.span();
    return this.#b.toString('utf8', start, end);
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

/**
 * Reads one stream's requests. An ACK repeats its subscription — a sidecar's EDS ACK names
 * every cluster — so the names are decoded once per distinct encoding, and a repeated one
 * comes back as the same (frozen) array.
 */
export class DiscoveryRequestReader {
  readonly #names = new Map<string, readonly string[]>();

  /** The request, or undefined when it needs the full codec (see the header). */
  read(b: Buffer): DiscoveryRequest | undefined {
    const r = new Reader(b, 0, b.length);
    const req: DiscoveryRequest = {};
    let namesStart = -1;
    let namesEnd = -1;
    let contiguous = true;
    while (r.pos < r.end) {
      const fieldStart = r.pos;
      const key = r.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire !== 2 || field < 1 || field > 6 || field === 2) return undefined;
      if (field === 3) {
        if (namesStart === -1) namesStart = fieldStart;
        else if (namesEnd !== fieldStart) contiguous = false;
        r.span();
        namesEnd = r.pos;
      } else if (field === 1) req.version_info = r.string();
      else if (field === 4) req.type_url = r.string();
      else if (field === 5) req.response_nonce = r.string();
      else {
        const [start, end] = r.span();
        req.error_detail = readStatus(b, start, end);
      }
    }
    if (namesStart === -1) return req;
    if (!contiguous) {
      req.resource_names = readNames(b, 0, b.length);
      return req;
    }
    const encoded = b.toString('latin1', namesStart, namesEnd);
    let names = this.#names.get(encoded);
    if (names === undefined) {
      names = Object.freeze(readNames(b, namesStart, namesEnd));
      if (this.#names.size >= MAX_REMEMBERED) this.#names.clear();
      this.#names.set(encoded, names);
    }
    req.resource_names = names as string[];
    return req;
  }
}

/** The resource_names fields (3) between start and end. */
function readNames(b: Buffer, start: number, end: number): string[] {
  const r = new Reader(b, start, end);
  const names: string[] = [];
  while (r.pos < r.end) {
    const key = r.varint();
    if (key === (3 << 3) + 2) names.push(r.string());
    else r.skip(key & 7);
  }
  return names;
}
