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

/**
 * Accumulates DATA chunks and hands over whole messages. A chunk that starts on a message
 * boundary with nothing held (an ACK's usual case) is read in place: each message is a slice of
 * it, with no array or copy per chunk — after an edit every sidecar's ACK comes through here.
 * A chunk is only read during push(): a message is valid during its onMessage call.
 */
export class FrameDecoder {
  #held: Buffer | undefined;

  /**
   * Calls `onMessage` with each whole message `chunk` completes, in order, until it returns
   * false; keeps what is left of a message for the next chunk. Throws FrameDecoderError on a
   * compressed or oversized message (the messages before it were handed over).
   */
  push(chunk: Buffer, onMessage: (message: Buffer) => boolean): void {
    let buf = chunk;
    if (this.#held !== undefined) {
      buf = Buffer.concat([this.#held, chunk]);
      this.#held = undefined;
    }
    let pos = 0;
    const end = buf.length;
    while (end - pos >= 5) {
      if (buf[pos] !== 0)
        throw new FrameDecoderError('compressed gRPC messages are not supported (grpc-encoding identity only)');
      const size = buf.readUInt32BE(pos + 1);
      if (size > MAX_MESSAGE_BYTES)
        throw new FrameDecoderError(`gRPC message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}`);
      if (end - pos - 5 < size) break;
      const message = buf.subarray(pos + 5, pos + 5 + size);
      pos += 5 + size;
      if (!onMessage(message)) {
        this.#hold(buf, chunk, pos);
        return;
      }
    }
    this.#hold(buf, chunk, pos);
  }

  /**
   * Keeps what follows `pos` for the next chunk: a copy when it is part of the chunk itself,
   * which may be a view of the socket's reused read buffer (the xDS server's HTTP/2 reads).
   */
  #hold(buf: Buffer, chunk: Buffer, pos: number): void {
    if (pos < buf.length) this.#held = buf === chunk ? Buffer.from(buf.subarray(pos)) : buf.subarray(pos);
  }
}
