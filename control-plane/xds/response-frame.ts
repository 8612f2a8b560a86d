// A state-of-the-world DiscoveryResponse written straight into its gRPC frame. A push after a
// mesh edit sends the same resources to every node; each resource's Any is encoded once
// (encodeAnyMessage caches it per object), so a node's response is its version, nonce and
// type URL around bytes that already exist: one buffer, no per-node protobuf object tree.
// Field numbers are envoy.service.discovery.v3.DiscoveryResponse's: version_info 1,
// resources 2, type_url 4, nonce 5 (proto3: empty strings are not written).
import { encodeAnyMessage, type JsonMap } from '../../proxy/xds/index.js';
import type { DiscoveryResponse } from './protocol.js';

const VERSION_INFO = (1 << 3) | 2;
const RESOURCES = (2 << 3) | 2;
const TYPE_URL = (4 << 3) | 2;
const NONCE = (5 << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

class Writer {
  readonly buf: Buffer;
  pos: number;

  constructor(size: number, start: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = start;
  }

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  bytes(tag: number, b: Uint8Array): void {
    this.buf[this.pos++] = tag;
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(tag: number, s: string, length: number): void {
    if (length === 0) return;
    this.buf[this.pos++] = tag;
    this.varint(length);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** The gRPC frame (flag, length, message) of a DiscoveryResponse whose resources carry "@type". */
export function discoveryResponseFrame(r: DiscoveryResponse): Buffer {
  let f = frames.get(r);
  if (f === undefined) {
    f = encodeFrame(r);
    frames.set(r, f);
  }
  return f;
}

/** A response object sent to many streams (see ads.ts's push) is encoded once. */
const frames = new WeakMap<DiscoveryResponse, Buffer>();

function encodeFrame(r: DiscoveryResponse): Buffer {
  const anys = r.resources.map((res) => encodeAnyMessage(res as JsonMap));
  const versionLength = Buffer.byteLength(r.version_info, 'utf8');
  const typeUrlLength = Buffer.byteLength(r.type_url, 'utf8');
  const nonceLength = Buffer.byteLength(r.nonce, 'utf8');
  let size = 0;
  if (versionLength > 0) size += fieldSize(versionLength);
  for (const a of anys) size += fieldSize(a.length);
  if (typeUrlLength > 0) size += fieldSize(typeUrlLength);
  if (nonceLength > 0) size += fieldSize(nonceLength);
  const w = new Writer(5 + size, 5);
  w.buf[0] = 0;
  w.buf.writeUInt32BE(size, 1);
  w.string(VERSION_INFO, r.version_info, versionLength);
  for (const a of anys) w.bytes(RESOURCES, a);
  w.string(TYPE_URL, r.type_url, typeUrlLength);
  w.string(NONCE, r.nonce, nonceLength);
  return w.buf;
}
