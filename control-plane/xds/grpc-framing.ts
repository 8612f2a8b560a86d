// gRPC's length-prefixed message framing over an HTTP/2 stream (PROTOCOL-HTTP2.md):
// 1 byte compressed flag, 4 bytes big-endian length, then the message. The xDS server
// speaks it directly on its HTTP/2 streams (grpc-stream.ts) so gRPC and REST-JSON share one port.
import { ControlPlaneError } from '../errors.js';

export const GRPC_STATUS = { OK: 0, INVALID_ARGUMENT: 3, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** Upper bound on one inbound message; a DiscoveryRequest is small, so anything larger is refused. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export class FrameDecoderError extends ControlPlaneError {
  constructor(message: string) {
    super('MS_ERR_XDS_GRPC_FRAME', message);
  }
}

/** Accumulates DATA chunks and yields whole messages. */
export class FrameDecoder {
  #buffered: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): Buffer[] {
    this.#buffered.push(chunk);
    this.#length += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#length < 5) break;
      const head = this.#peek(5);
      if (head[0] !== 0)
        throw new FrameDecoderError('compressed gRPC messages are not supported (grpc-encoding identity only)');
      const size = head.readUInt32BE(1);
      if (size > MAX_MESSAGE_BYTES)
        throw new FrameDecoderError(`gRPC message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}`);
      if (this.#length < 5 + size) break;
      // One chunk holding the message (an ACK's usual case) is sliced, not copied.
      const all =
        this.#buffered.length === 1 ? (this.#buffered[0] as Buffer) : Buffer.concat(this.#buffered, this.#length);
      out.push(all.subarray(5, 5 + size));
      const rest = all.subarray(5 + size);
      this.#buffered = rest.length > 0 ? [rest] : [];
      this.#length = rest.length;
    }
    return out;
  }

  #peek(n: number): Buffer {
    const first = this.#buffered[0] as Buffer;
    if (first.length >= n) return first;
    return Buffer.concat(this.#buffered, this.#length).subarray(0, n);
  }
}
