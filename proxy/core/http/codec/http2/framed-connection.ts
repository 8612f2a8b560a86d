// What our two HTTP/2 codecs share, as Envoy's ConnectionImpl under its server and client
// connections. One parse loop per socket read cuts the bytes into frames (a partial frame waits
// for the next read), checks what RFC 9113 asks of every connection whichever end it is (the
// peer's SETTINGS first, a header block's CONTINUATIONs back to back, frame sizes, PING), applies
// the peer's SETTINGS and WINDOW_UPDATEs to the send windows, and hands the rest to the side's
// handler. What a frame means on each side (a request or a response, GOAWAY, which stream ids
// are valid) and how frames are written stay with it.
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FRAME_HEADER_SIZE,
  FrameFlag,
  FrameType,
  headerFrames,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  pingAck,
  SETTINGS_ACK,
  SettingId,
  windowUpdateFrame,
} from './frame.js';
import { EndOfTurn } from '../../../../../shared/end-of-turn.js';
import type { HeaderMap } from '../../headers.js';
import type { TransportSocket } from '../../../network/transport-socket.js';
import {
  HANDLE_WRITE_QUEUED,
  type HandleWriteOwner,
  tcpHandleOf,
  writeError,
  writeToHandle,
} from '../../../../../shared/stream-wrap.js';
import { HpackEncoder } from './hpack.js';

/** What a peer may still send once we ended its connection, read and dropped, before reading stops. */
const READ_AFTER_END_LIMIT = 64 * 1024;
/** How long a connection we ended may take to send its GOAWAY before the socket is destroyed. */
const SOCKET_CLOSE_GRACE_MS = 1000;
/** A header block may span this many CONTINUATION frames (CVE-2024-27316). */
const MAX_CONTINUATIONS = 16;
/** Below this many queued octets a batch is joined into one Buffer; above, written as is. */
const CONCAT_LIMIT = 16 * 1024;
/**
 * A batch of one buffer up to this size goes straight to a plain TCP socket's handle (see
 * writeQueued); a larger one through socket.write, whose buffer counts what the kernel left.
 */
const HANDLE_WRITE_MAX = 64 * 1024;

/**
 * Connections with frames queued this turn, flushed together at its end (its first queued frame
 * schedules it) instead of one Immediate per connection: an xDS push after a mesh edit queues a
 * frame on every sidecar's connection in one turn. The bytes leave in the same order, at the same
 * point of the turn.
 */
const dueConnections = new EndOfTurn<FramedHttp2Connection<FlowControlledStream>>((connection) =>
  connection.flushScheduledBatch(),
);

/** What the connection's flow control needs of a stream of either side. */
export interface FlowControlledStream {
  /** What the peer lets us send on the stream; negative after a smaller SETTINGS_INITIAL_WINDOW_SIZE. */
  sendWindow: number;
  /** DATA held back by a window, in order; null when none waits. */
  pending: Buffer[] | null;
}

export abstract class FramedHttp2Connection<S extends FlowControlledStream> implements HandleWriteOwner {
  protected readonly encoder = new HpackEncoder();
  protected readonly streams = new Map<number, S>();
  /** Streams with DATA waiting on a window. */
  protected readonly blocked = new Set<S>();
  /**
   * What a peer may send beyond a stream's window until it ACKs our SETTINGS: it starts on the
   * default window, ours may be smaller.
   */
  protected recvSlack = 0;
  protected peerInitialWindow = DEFAULT_WINDOW_SIZE;
  protected peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  protected connSendWindow = DEFAULT_WINDOW_SIZE;
  /** Our connection window for what the peer sends, and what it used since our last WINDOW_UPDATE. */
  #connWindowSize = DEFAULT_WINDOW_SIZE;
  #connRecvWindow = DEFAULT_WINDOW_SIZE;
  #connRecvUnacked = 0;
  /** Set on a connection error or the connection's end: no frame is read after it. */
  protected dead = false;
  /** The stream whose header block awaits CONTINUATION frames; 0 when none does. */
  protected blockStream = 0;
  /** The HEADERS frame's flags of the block under way, its fragments so far and their octets. */
  #blockFlags = 0;
  #blockFragments: Buffer[] = [];
  #blockBytes = 0;
  /**
   * Octets a header block may reach over its CONTINUATIONs before onHeaderBlockFlood (besides the
   * MAX_CONTINUATIONS bound): the server bounds it by its request-header limit.
   */
  protected maxHeaderBlockBytes = Number.POSITIVE_INFINITY;
  /**
   * Fragments kept for a later CONTINUATION are copied: the server reads into a buffer the
   * transport reuses (see onData's `view`); the client's reads are its own.
   */
  protected copyHeaderFragments = false;
  /** Octets of the client's connection preface still to come (a server's only). */
  #prefaceLeft: number;
  #settingsSeen = false;
  #input: Buffer | null = null;

  readonly #server: boolean;
  readonly #socket: TransportSocket['stream'];
  /** The socket was ended (our FIN is queued); it is destroyed after a grace. */
  #ended = false;
  /** Octets read since the socket was ended (see onData). */
  #readAfterEnd = 0;

  /** `server`: the peer is a client, whose connection preface comes first (RFC 9113 §3.4). */
  constructor(server: boolean, socket: TransportSocket['stream']) {
    this.#server = server;
    this.#socket = socket;
    this.#prefaceLeft = server ? CLIENT_PREFACE.length : 0;
  }

  /**
   * Reads `chunk`'s frames. `view`: the chunk is a view of a buffer the transport reuses (see
   * TransportSocket.readWith), so a partial frame left for the next read is copied.
   */
  protected onData(chunk: Buffer, view = false): void {
    if (this.dead) {
      // Once we ended the connection, a peer's last frames and its FIN are read (so a client that
      // closes after our GOAWAY is let go at once); one that writes on is read no further. A
      // flood's client writes on, and reading it through the close's grace turned all it sent
      // into ArrayBuffers that no scavenge frees (dropping them allocates almost nothing on V8's
      // heap), so they waited for a full GC: 10-30 MB between two of them under a PING flood,
      // which malloc's main arena kept as RSS afterwards.
      if (this.#ended && (this.#readAfterEnd += chunk.length) > READ_AFTER_END_LIMIT) this.#socket.pause();
      return;
    }
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
    if (pos < end) this.#input = view && buf === chunk ? Buffer.from(buf.subarray(pos)) : buf.subarray(pos);
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
        this.#onContinuation(flags, id, buf, start, end);
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
        this.#onSettings(flags, id, buf, start, end);
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
        this.#onWindowUpdate(id, buf, start, end);
        return;
      case FrameType.PUSH_PROMISE:
        // A client never pushes, and a server may not while our SETTINGS_ENABLE_PUSH is 0 (RFC 9113 §8.4).
        this.connectionError(ErrorCode.PROTOCOL_ERROR);
        return;
      default:
      // Unknown frame types are ignored (§5.5).
    }
  }

  #onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const length = end - start;
    if ((flags & FrameFlag.ACK) !== 0) {
      if (length !== 0) this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
      else this.recvSlack = 0;
      return;
    }
    if (length % 6 !== 0) {
      this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    let moreStreams = false;
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (key) {
        case SettingId.HEADER_TABLE_SIZE:
          this.encoder.onPeerTableSize(value);
          break;
        case SettingId.ENABLE_PUSH:
          // 0 or 1 from a client; a server may not send it other than 0 (RFC 9113 §6.5.2).
          if (value > (this.#server ? 1 : 0)) return this.connectionError(ErrorCode.PROTOCOL_ERROR);
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          moreStreams = this.onPeerMaxConcurrentStreams(value);
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR);
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR);
          }
          break;
        }
        case SettingId.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            return this.connectionError(ErrorCode.PROTOCOL_ERROR);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
        // MAX_HEADER_LIST_SIZE (advisory) and unknown ids: ignored.
      }
    }
    this.queueControl(SETTINGS_ACK);
    if (this.blocked.size > 0) this.#resumeBlocked();
    if (moreStreams) this.onMoreStreamsAllowed();
  }

  #onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.connectionError(ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    const increment = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR);
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR);
      if (this.blocked.size > 0) this.#resumeBlocked();
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      // A stream already closed may still get one; one never opened may not.
      if (this.unopenedStream(id)) this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (increment === 0) return this.streamError(s, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW_SIZE) return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
    if (s.pending !== null && this.connSendWindow > 0) this.sendPending(s);
  }

  /** Windows opened: the blocked streams send what they hold, in the order they blocked. */
  #resumeBlocked(): void {
    for (const s of this.blocked) {
      if (this.connSendWindow <= 0) return;
      if (s.sendWindow > 0) this.sendPending(s);
    }
  }

  /** Sets our connection window for what the peer sends; a WINDOW_UPDATE announces what it adds to the default. */
  protected openConnectionWindow(size: number): void {
    this.#connWindowSize = size;
    this.#connRecvWindow = size;
    if (size > DEFAULT_WINDOW_SIZE) this.queueFrame(windowUpdateFrame(0, size - DEFAULT_WINDOW_SIZE));
  }

  /**
   * A DATA frame's `length` octets (padding included) against our connection window, reopened in
   * one WINDOW_UPDATE once half is used; false after the FLOW_CONTROL_ERROR of a peer that overran it.
   */
  protected consumeConnectionWindow(length: number): boolean {
    if (length > this.#connRecvWindow) {
      this.connectionError(ErrorCode.FLOW_CONTROL_ERROR);
      return false;
    }
    this.#connRecvWindow -= length;
    this.#connRecvUnacked += length;
    if (this.#connRecvUnacked >= this.#connWindowSize / 2) {
      this.queueFrame(windowUpdateFrame(0, this.#connRecvUnacked));
      this.#connRecvWindow += this.#connRecvUnacked;
      this.#connRecvUnacked = 0;
    }
    return true;
  }

  // --- the write batch: the frames a loop turn queues go out together at its end ---

  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  /** A handle write the kernel took only in part is still queued in libuv (see writeQueued). */
  #handleWritePending = false;

  /** Adds a frame to this loop turn's batch (scheduleFlush() has it written). */
  protected enqueueFrame(frame: Buffer): void {
    this.#out.push(frame);
    this.#outBytes += frame.length;
  }

  /** Has flushOut() run at the end of this loop turn, once however many frames are queued. */
  protected scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    dueConnections.schedule(this as unknown as FramedHttp2Connection<FlowControlledStream>);
  }

  /** The turn's flush (dueConnections): what is still queued leaves now. */
  flushScheduledBatch(): void {
    if (this.#flushScheduled) this.flushOut();
  }

  /** Forgets the batch (a peer that does not read is cut off instead). */
  protected discardQueued(): void {
    this.#out = [];
    this.#outBytes = 0;
  }

  /** Octets queued and not yet written. */
  protected get queuedBytes(): number {
    return this.#outBytes;
  }

  /**
   * Writes the batch: a small one joined into one write (cheaper than a syscall per frame), a
   * large one corked (no copy of large DATA payloads). Returns write()'s verdict for the last
   * write, or null when nothing was written (an empty batch, a socket already ended).
   */
  protected writeQueued(): boolean | null {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0) return null;
    this.#out = [];
    const bytes = this.#outBytes;
    this.#outBytes = 0;
    const s = this.#socket;
    if (s.destroyed || s.writableEnded) return null;
    if (out.length === 1) return this.#write(s, out[0]!);
    if (bytes <= CONCAT_LIMIT) return this.#write(s, Buffer.concat(out, bytes));
    s.cork();
    for (let i = 0; i < out.length - 1; i++) s.write(out[i]!);
    const ok = s.write(out[out.length - 1]!);
    s.uncork();
    return ok;
  }

  /**
   * Writes one buffer: straight to a plain TCP socket's native handle (writeBuffer with a
   * WriteWrap, what net.Socket's write does underneath) when the socket's Writable holds nothing,
   * skipping its queueing, callback and state bookkeeping, which have nothing to do for a write
   * the kernel takes whole — at a thousand sidecars an xDS push is a thousand such writes in one
   * turn. A write the kernel takes only in part stays queued in libuv, which keeps later writes
   * (through socket.write, while it is pending) behind it, so the bytes the Writable does not
   * count are at most one batch of HANDLE_WRITE_MAX. TLS sockets, sockets with a timeout (which a
   * write refreshes) and larger writes keep socket.write, as without Node's binding.
   */
  #write(s: TransportSocket['stream'], data: Buffer): boolean {
    if (
      this.#handleWritePending ||
      data.length > HANDLE_WRITE_MAX ||
      s.connecting ||
      s.writableLength !== 0 ||
      s.writableCorked !== 0 ||
      (s.timeout ?? 0) > 0
    )
      return s.write(data);
    const handle = tcpHandleOf(s);
    if (handle === null) return s.write(data);
    const result = writeToHandle(handle, data, this);
    if (result === HANDLE_WRITE_QUEUED) this.#handleWritePending = true;
    else if (result !== 0) s.destroy(writeError(result));
    return true;
  }

  /** The rest of a handle write left the kernel's way (status 0) or failed. */
  onHandleWriteComplete(status: number): void {
    this.#handleWritePending = false;
    const s = this.#socket;
    if (status < 0 && !s.destroyed) s.destroy(writeError(status));
  }

  /**
   * Encodes and queues one header block for stream `id` (a request or response head, or
   * trailers): the pseudo-headers named in `pseudo` first, each `h`'s value or its `defaults`
   * one, then `h`'s regular fields less those in `dropped` and a `te` other than `trailers`
   * (RFC 9113 §8.2.2). HEADERS, with CONTINUATIONs past the peer's frame size, queued back to
   * back (§6.10).
   */
  protected queueHeaderBlock(
    id: number,
    h: HeaderMap,
    pseudo: readonly string[],
    defaults: readonly string[],
    dropped: ReadonlySet<string>,
    endStream: boolean,
  ): void {
    const names = h.names;
    const values = h.values;
    // Room for the pseudo-headers' defaults and a size update or two besides the fields.
    const block = Buffer.allocUnsafe(FRAME_HEADER_SIZE + HpackEncoder.bound(names, values) + 64);
    const enc = this.encoder;
    let pos = enc.begin(block, FRAME_HEADER_SIZE);
    for (let i = 0; i < pseudo.length; i++) pos = enc.field(block, pos, pseudo[i]!, h.get(pseudo[i]!) ?? defaults[i]!);
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.charCodeAt(0) === 58 || dropped.has(n)) continue;
      if (n === 'te' && values[i] !== 'trailers') continue;
      pos = enc.field(block, pos, n, values[i]!);
    }
    const frames = headerFrames(block, pos, id, endStream, this.peerMaxFrameSize);
    if (Array.isArray(frames)) for (const f of frames) this.queueFrame(f);
    else this.queueFrame(frames);
  }

  /**
   * Writes what is queued (a GOAWAY), ends the socket, reads at most READ_AFTER_END_LIMIT more
   * octets (dropped) and destroys it after a grace.
   */
  protected endNow(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.dead = true;
    this.flushOut();
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), SOCKET_CLOSE_GRACE_MS).unref();
  }

  /** The payload after a PADDED frame's pad length octet, or -1 when the padding does not fit. */
  protected unpad(flags: number, buf: Buffer, start: number, end: number): number {
    if ((flags & FrameFlag.PADDED) === 0) return end;
    if (end - start < 1) return -1;
    const padded = end - buf[start]!;
    return padded < start + 1 ? -1 : padded;
  }

  /**
   * A HEADERS frame's header block fragment (RFC 9113 §6.2: the pad length and priority fields
   * cut off), or null once a padding or priority that does not fit ended the connection.
   */
  protected headersFragment(flags: number, buf: Buffer, start: number, end: number): Buffer | null {
    const blockEnd = this.unpad(flags, buf, start, end);
    let blockStart = (flags & FrameFlag.PADDED) === 0 ? start : start + 1;
    if ((flags & FrameFlag.PRIORITY) !== 0) blockStart += 5;
    if (blockEnd < 0 || blockStart > blockEnd) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return null;
    }
    return buf.subarray(blockStart, blockEnd);
  }

  /** A HEADERS frame without END_HEADERS: its block goes on in CONTINUATION frames (RFC 9113 §4.3). */
  protected holdHeaderBlock(id: number, flags: number, fragment: Buffer): void {
    this.blockStream = id;
    this.#blockFlags = flags;
    this.#blockFragments = [this.copyHeaderFragments ? Buffer.from(fragment) : fragment];
    this.#blockBytes = fragment.length;
  }

  /**
   * A CONTINUATION of the held header block (the parse loop let only those through): the block
   * goes to onHeaderBlock at END_HEADERS, as if it came in one HEADERS frame. One that never ends
   * (CVE-2024-27316) is each side's onHeaderBlockFlood.
   */
  #onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.blockStream === 0 || id !== this.blockStream) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const fragment = buf.subarray(start, end);
    this.#blockBytes += fragment.length;
    this.#blockFragments.push(this.copyHeaderFragments ? Buffer.from(fragment) : fragment);
    if (this.#blockBytes > this.maxHeaderBlockBytes || this.#blockFragments.length > MAX_CONTINUATIONS + 1) {
      this.onHeaderBlockFlood();
      return;
    }
    if ((flags & FrameFlag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#blockFragments);
    this.blockStream = 0;
    this.#blockFragments = [];
    this.onHeaderBlock(id, this.#blockFlags, block);
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then the connection ends. */
  protected abstract connectionError(code: number): void;
  /** Writes the frames queued this loop turn (writeQueued(), and what the side checks after it). */
  protected abstract flushOut(): void;
  /** Queues a frame for this loop turn's write. */
  protected abstract queueFrame(frame: Buffer): void;
  /** Queues a frame answering the peer's (a PING ACK) for this loop turn's write. */
  protected abstract queueControl(frame: Buffer): void;
  protected abstract onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  protected abstract onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void;
  /** A whole header block (one HEADERS frame's, or joined from its CONTINUATIONs) with the HEADERS flags. */
  protected abstract onHeaderBlock(id: number, flags: number, block: Buffer): void;
  /** A header block past MAX_CONTINUATIONS frames or maxHeaderBlockBytes octets. */
  protected abstract onHeaderBlockFlood(): void;
  /** A well-formed PRIORITY frame: parsed and ignored (RFC 9113 deprecates the scheme). */
  protected abstract onPriorityFrame(): void;
  protected abstract onRstStream(id: number, buf: Buffer, start: number, end: number): void;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS; true when it lets us open more than before. */
  protected abstract onPeerMaxConcurrentStreams(value: number): boolean;
  /** After the SETTINGS ACK went out: the peer allows more streams than before. */
  protected abstract onMoreStreamsAllowed(): void;
  /** A stream id the peer names that no stream of ours ever had (RFC 9113 §5.1: a connection error). */
  protected abstract unopenedStream(id: number): boolean;
  /** A stream error (RFC 9113 §5.4.2): RST_STREAM with the code. */
  protected abstract streamError(s: S, code: number): void;
  /** Sends as much of `s.pending` as the windows allow. */
  protected abstract sendPending(s: S): void;
  /** A well-formed GOAWAY frame; its payload starts at `start`. */
  protected abstract onGoaway(buf: Buffer, start: number): void;
}
