// What our two HTTP/2 codecs share, as Envoy's ConnectionImpl under its server and client
// connections: the read side of a connection. One parse loop per socket read cuts the bytes
// into frames (a partial frame waits for the next read), checks what RFC 9113 asks of every
// connection whichever end it is (the peer's SETTINGS first, a header block's CONTINUATIONs
// back to back, frame sizes, PING), and hands each frame to the side's handler. What a frame
// means on each side (a request or a response, which settings apply, GOAWAY) stays with it.
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  FRAME_HEADER_SIZE,
  FrameFlag,
  FrameType,
  pingAck,
} from './frame.js';

export abstract class FramedHttp2Connection {
  /** Set on a connection error or the connection's end: no frame is read after it. */
  protected dead = false;
  /** The stream whose header block awaits CONTINUATION frames; 0 when none does. */
  protected blockStream = 0;
  /** Octets of the client's connection preface still to come (a server's only). */
  #prefaceLeft: number;
  #settingsSeen = false;
  #input: Buffer | null = null;

  constructor(expectPreface: boolean) {
    this.#prefaceLeft = expectPreface ? CLIENT_PREFACE.length : 0;
  }

  protected onData(chunk: Buffer): void {
    if (this.dead) return;
    let buf = chunk;
    if (this.#input !== null) {
      buf = Buffer.concat([this.#input, chunk]);
      this.#input = null;
    }
    let pos = 0;
    const end = buf.length;
    if (this.#prefaceLeft > 0) {
      const offset = CLIENT_PREFACE.length - this.#prefaceLeft;
      const n = Math.min(this.#prefaceLeft, end);
      if (buf.compare(CLIENT_PREFACE, offset, offset + n, 0, n) !== 0) {
        this.connectionError(ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.#prefaceLeft -= n;
      pos = n;
    }
    while (end - pos >= FRAME_HEADER_SIZE) {
      const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (len > DEFAULT_MAX_FRAME_SIZE) {
        this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
        return;
      }
      if (end - pos - FRAME_HEADER_SIZE < len) break;
      const type = buf[pos + 3]!;
      const flags = buf[pos + 4]!;
      const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const start = pos + FRAME_HEADER_SIZE;
      pos = start + len;
      this.#onFrame(type, flags, id, buf, start, pos);
      if (this.dead) return;
    }
    if (pos < end) this.#input = buf.subarray(pos);
  }

  #onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.#settingsSeen) {
      // Either end's preface is a SETTINGS frame, and it comes first (RFC 9113 §3.4).
      if (type !== FrameType.SETTINGS || (flags & FrameFlag.ACK) !== 0) {
        this.connectionError(ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.#settingsSeen = true;
    }
    if (this.blockStream !== 0 && (type !== FrameType.CONTINUATION || id !== this.blockStream)) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, id, buf, start, end);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(flags, id, buf, start, end);
        return;
      case FrameType.CONTINUATION:
        this.onContinuation(flags, id, buf, start, end);
        return;
      case FrameType.PRIORITY:
        if (id === 0) this.connectionError(ErrorCode.PROTOCOL_ERROR);
        else if (end - start !== 5) this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
        else this.onPriorityFrame();
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, buf, start, end);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, buf, start, end);
        return;
      case FrameType.PING:
        if (id !== 0) this.connectionError(ErrorCode.PROTOCOL_ERROR);
        else if (end - start !== 8) this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
        else if ((flags & FrameFlag.ACK) === 0) this.queueControl(pingAck(buf, start));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) this.connectionError(ErrorCode.PROTOCOL_ERROR);
        else if (end - start < 8) this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
        else this.onGoaway(buf, start);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, buf, start, end);
        return;
      case FrameType.PUSH_PROMISE:
        // A client never pushes, and a server may not while our SETTINGS_ENABLE_PUSH is 0 (RFC 9113 §8.4).
        this.connectionError(ErrorCode.PROTOCOL_ERROR);
        return;
      default:
      // Unknown frame types are ignored (§5.5).
    }
  }

  /** The payload after a PADDED frame's pad length octet, or -1 when the padding does not fit. */
  protected unpad(flags: number, buf: Buffer, start: number, end: number): number {
    if ((flags & FrameFlag.PADDED) === 0) return end;
    if (end - start < 1) return -1;
    const padded = end - buf[start]!;
    return padded < start + 1 ? -1 : padded;
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then the connection ends. */
  protected abstract connectionError(code: number): void;
  /** Queues a frame answering the peer's (a PING ACK) for this loop turn's write. */
  protected abstract queueControl(frame: Buffer): void;
  protected abstract onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  protected abstract onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  protected abstract onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  /** A well-formed PRIORITY frame: parsed and ignored (RFC 9113 deprecates the scheme). */
  protected abstract onPriorityFrame(): void;
  protected abstract onRstStream(id: number, buf: Buffer, start: number, end: number): void;
  protected abstract onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  /** A well-formed GOAWAY frame; its payload starts at `start`. */
  protected abstract onGoaway(buf: Buffer, start: number): void;
  protected abstract onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void;
}
