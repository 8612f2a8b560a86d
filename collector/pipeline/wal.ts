// The write-ahead log: what makes a 200 durable before ClickHouse has the data.
//
// Records are appended to numbered segment files and made durable with group commit: all
// appends that arrive while one write+fdatasync is in flight share the next one, so N
// concurrent requests cost one fsync, not N. Each record carries its sequence number and a
// CRC32; a torn tail (crash mid-write) is detected at open and cut off. Once the storage
// writer reports a sequence number stored, segments entirely below it are deleted and the
// watermark is written to a checkpoint file so a restart does not insert stored data twice.

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CollectorOverloadedError, WalError } from '../errors.js';

const HEADER = 17; // u32 payload length, u32 crc, u8 kind, u64 seq
const SEGMENT_RE = /^wal-(\d{16})\.log$/;
const CHECKPOINT = 'checkpoint';

export interface WalOptions {
  dir: string;
  /** Appends that would take the log above this many bytes are refused (503). */
  maxBytes: number;
  /** A new segment starts once the current one reaches this size. */
  segmentBytes: number;
  /** Called after each fsync with the number of records it made durable (group commit). */
  onSync?: (records: number) => void;
}

export interface WalLocation {
  segment: string;
  offset: number;
  length: number;
}

export interface WalAppend {
  seq: number;
  /** Resolves once the record is fsync'ed, with where it lives on disk. */
  durable: Promise<WalLocation>;
}

export interface WalRecord {
  seq: number;
  kind: number;
  payload: Buffer;
}

interface Segment {
  name: string;
  lastSeq: number;
  bytes: number;
}

interface Pending {
  header: Buffer;
  payload: Buffer;
  size: number;
  seq: number;
  resolve: (loc: WalLocation) => void;
  reject: (err: Error) => void;
}

export class WriteAheadLog {
  readonly #opts: WalOptions;
  readonly #segments: Segment[] = [];
  #fh: FileHandle | undefined;
  #current: Segment | undefined;
  #nextSeq: number;
  #stored: number;
  #bytes = 0;
  #pending: Pending[] = [];
  #flushing = false;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(opts: WalOptions, nextSeq: number, stored: number) {
    this.#opts = opts;
    this.#nextSeq = nextSeq;
    this.#stored = stored;
  }

  /** Opens the log and returns the records not yet stored, in order. */
  static async open(opts: WalOptions): Promise<{ wal: WriteAheadLog; replay: WalRecord[] }> {
    mkdirSync(opts.dir, { recursive: true });
    let stored = 0;
    try {
      stored = Number(readFileSync(join(opts.dir, CHECKPOINT), 'utf8').trim()) || 0;
    } catch {
      stored = 0;
    }
    const names = readdirSync(opts.dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    const replay: WalRecord[] = [];
    const segments: Segment[] = [];
    let maxSeq = stored;
    for (const name of names) {
      const path = join(opts.dir, name);
      const buf = readFileSync(path);
      let off = 0;
      let lastSeq = 0;
      while (off + HEADER <= buf.length) {
        const len = buf.readUInt32LE(off);
        const crc = buf.readUInt32LE(off + 4);
        if (off + HEADER + len > buf.length) break;
        if (crc32(buf.subarray(off + 8, off + HEADER + len)) !== crc) break;
        const kind = buf[off + 8]!;
        const seq = Number(buf.readBigUInt64LE(off + 9));
        lastSeq = seq;
        if (seq > maxSeq) maxSeq = seq;
        if (seq > stored) replay.push({ seq, kind, payload: buf.subarray(off + HEADER, off + HEADER + len) });
        off += HEADER + len;
      }
      // A torn or corrupt tail can only be the last write before a crash: cut it off.
      if (off < buf.length) truncateSync(path, off);
      if (off === 0) {
        unlinkSync(path);
        continue;
      }
      segments.push({ name, lastSeq, bytes: off });
    }
    const wal = new WriteAheadLog(opts, maxSeq + 1, stored);
    for (const s of segments) {
      wal.#segments.push(s);
      wal.#bytes += s.bytes;
    }
    return { wal, replay };
  }

  get bytes(): number {
    return this.#bytes;
  }

  get storedSeq(): number {
    return this.#stored;
  }

  /** True when an append of `size` payload bytes would exceed the limit. */
  wouldOverflow(size: number): boolean {
    return this.#bytes + HEADER + size > this.#opts.maxBytes;
  }

  /**
   * Appends one record. The sequence number is assigned at once (callers keep order by it);
   * the returned promise settles once the record is fsync'ed.
   */
  append(kind: number, payload: Buffer): WalAppend {
    if (this.#closed) throw new WalError('write-ahead log is closed');
    if (this.wouldOverflow(payload.length)) {
      throw new CollectorOverloadedError(`write-ahead log full (${this.#bytes} of ${this.#opts.maxBytes} bytes)`);
    }
    const seq = this.#nextSeq++;
    // Header and payload go out as two iovecs: the payload (the request body) is never copied.
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(payload.length, 0);
    header[8] = kind;
    header.writeBigUInt64LE(BigInt(seq), 9);
    header.writeUInt32LE(crc32(payload, crc32(header.subarray(8))), 4);
    const size = HEADER + payload.length;
    // Counted at once so concurrent appends see the space as taken.
    this.#bytes += size;
    const durable = new Promise<WalLocation>((resolve, reject) => {
      this.#pending.push({ header, payload, size, seq, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
    return { seq, durable };
  }

  /** Reads back a record's payload (for entries the pipeline chose not to keep in memory). */
  read(loc: WalLocation): Buffer {
    const fd = openSync(join(this.#opts.dir, loc.segment), 'r');
    try {
      const buf = Buffer.allocUnsafe(loc.length);
      let got = 0;
      while (got < loc.length) {
        const n = readSync(fd, buf, got, loc.length - got, loc.offset + got);
        if (n === 0) throw new WalError(`write-ahead log segment ${loc.segment} is shorter than expected`);
        got += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        const fh = await this.#segmentFor();
        const iovecs: Buffer[] = [];
        for (const p of batch) iovecs.push(p.header, p.payload);
        const expected = batch.reduce((n, p) => n + p.size, 0);
        const { bytesWritten } = await fh.writev(iovecs);
        if (bytesWritten !== expected) throw new Error(`short write: ${bytesWritten} of ${expected} bytes`);
        await fh.datasync();
        this.#opts.onSync?.(batch.length);
        const seg = this.#current!;
        const locs: WalLocation[] = [];
        for (const p of batch) {
          locs.push({ segment: seg.name, offset: seg.bytes + HEADER, length: p.payload.length });
          seg.bytes += p.size;
          seg.lastSeq = p.seq;
        }
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(locs[i]!);
      } catch (err) {
        for (const p of batch) this.#bytes -= p.size;
        const e = new WalError(`write-ahead log append failed: ${(err as Error).message}`, err);
        for (const p of batch) p.reject(e);
      }
    }
    this.#flushing = false;
  }

  async #segmentFor(): Promise<FileHandle> {
    if (this.#fh !== undefined && this.#current !== undefined && this.#current.bytes < this.#opts.segmentBytes)
      return this.#fh;
    if (this.#fh !== undefined) await this.#fh.close();
    const name = `wal-${String(this.#nextSeq).padStart(16, '0')}.log`;
    this.#fh = await open(join(this.#opts.dir, name), 'a');
    // The new directory entry must survive a crash too, or its fsync'ed records vanish.
    const dfd = openSync(this.#opts.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.#current = { name, lastSeq: 0, bytes: 0 };
    this.#segments.push(this.#current);
    return this.#fh;
  }

  /** Durably keeps rows storage refused, beside the log; returns the file's path. */
  setAside(name: string, chunks: readonly Buffer[]): string {
    const dir = join(this.#opts.dir, 'rejected');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, name);
    const fd = openSync(path, 'w');
    try {
      for (const c of chunks) writeSync(fd, c);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return path;
  }

  /** Everything up to and including `seq` is in ClickHouse: release its segments. */
  markStored(seq: number): void {
    if (seq <= this.#stored) return;
    this.#stored = seq;
    while (this.#segments.length > 0) {
      const s = this.#segments[0]!;
      if (s === this.#current || s.lastSeq === 0 || s.lastSeq > seq) break;
      this.#segments.shift();
      this.#bytes -= s.bytes;
      try {
        unlinkSync(join(this.#opts.dir, s.name));
      } catch {
        // Already gone: nothing to release.
      }
    }
    if (
      this.#current !== undefined &&
      this.#current.lastSeq !== 0 &&
      this.#current.lastSeq <= seq &&
      this.#pending.length === 0 &&
      !this.#flushing
    ) {
      // The live segment is fully stored too: start the next append in a fresh one.
      this.#retireCurrent();
    }
    if (this.#checkpointTimer === undefined) {
      this.#checkpointTimer = setTimeout(() => {
        this.#checkpointTimer = undefined;
        this.#writeCheckpoint();
      }, 250);
      this.#checkpointTimer.unref();
    }
  }

  #retireCurrent(): void {
    const seg = this.#current!;
    const fh = this.#fh;
    this.#current = undefined;
    this.#fh = undefined;
    void fh?.close().then(() => {
      const i = this.#segments.indexOf(seg);
      if (i >= 0 && seg.lastSeq <= this.#stored) {
        this.#segments.splice(i, 1);
        this.#bytes -= seg.bytes;
        try {
          unlinkSync(join(this.#opts.dir, seg.name));
        } catch {
          // Already gone.
        }
      }
    });
  }

  #writeCheckpoint(): void {
    // Not fsync'ed on purpose: after a power loss a stale watermark only means a few batches
    // are inserted twice; the data itself is never at risk.
    const tmp = join(this.#opts.dir, `${CHECKPOINT}.tmp`);
    writeFileSync(tmp, String(this.#stored));
    renameSync(tmp, join(this.#opts.dir, CHECKPOINT));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing) await new Promise((r) => setTimeout(r, 5));
    this.#closed = true;
    if (this.#checkpointTimer !== undefined) {
      clearTimeout(this.#checkpointTimer);
      this.#checkpointTimer = undefined;
    }
    this.#writeCheckpoint();
    await this.#fh?.close();
    this.#fh = undefined;
  }
}
