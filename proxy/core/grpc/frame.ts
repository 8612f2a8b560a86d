// gRPC's length-prefixed message framing (gRPC over HTTP/2, "Length-Prefixed-Message": one flag
// byte, a 4-byte big-endian length, the message), as Envoy's Grpc::FrameInspector reads it:
// counts frames across arbitrary chunk boundaries without copying bytes, and writes gRPC-Web's
// trailer frame (flag 0x80).

/** Counts the frames a byte stream starts, whatever its chunking. */
export class GrpcFrameCounter {
  /** Frames started so far. */
  count = 0;
  /** Position inside the 5-byte prefix being read (0 = at a frame boundary). */
  #prefixPos = 0;
  #length = 0;
  #bodyLeft = 0;

  /** Reads `chunk`; returns how many frames started in it. */
  inspect(chunk: Buffer): number {
    const before = this.count;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, n - i);
        this.#bodyLeft -= take;
        i += take;
        continue;
      }
      if (this.#prefixPos === 0) this.count++;
      else this.#length = this.#length * 256 + chunk[i]!;
      i++;
      if (++this.#prefixPos === 5) {
        this.#bodyLeft = this.#length;
        this.#prefixPos = 0;
        this.#length = 0;
      }
    }
    return this.count - before;
  }
}

/**
 * gRPC-Web's trailer frame: flag 0x80, then the trailers as an HTTP/1-style header block
 * (`name:value\r\n`, names lower-case), length-prefixed like a message.
 */
export function encodeTrailerFrame(names: readonly string[], values: readonly string[]): Buffer {
  let block = '';
  for (let i = 0; i < names.length; i++) block += `${names[i]!.toLowerCase()}:${values[i]}\r\n`;
  const body = Buffer.from(block, 'latin1');
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = 0x80;
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}
