// ClickHouse RowBinary, the encoding rows travel in: chDB parses it for about half the CPU of
// JSONCompactEachRow on the same spans (0.5 vs 0.8-1.0 CPU-s per 100k rows, Map columns above
// all), and V8 builds it far cheaper than JSON (no string concatenation, no JSON.stringify).
// Per type: String = varint byte length + UTF-8 bytes (LowCardinality(String) is written as
// String); DateTime64(9) = Int64 nanoseconds; UInt64/UInt8/Float64 little-endian;
// Array(T) = varint count + elements; Map(K, V) = varint count + key, value pairs.

/**
 * Encodes rows into slabs: take() hands out what was written since the last take as a view of
 * the slab (no copy, no allocation per entry) and encoding continues after it. A slab is
 * garbage once every view of it is; a row that does not fit starts the next slab.
 */
export class RowBinaryWriter {
  readonly #slabBytes: number;
  readonly #pool: SlabPool | undefined;
  #buf: Buffer;
  /** The slab as a DataView: its 64-bit writes are builtins, where Buffer's go through BigInt arithmetic. */
  #view: DataView;
  /** Where the bytes not yet taken begin. */
  #start = 0;
  #pos = 0;

  /** With `pool`, slabs come from it and go back to it once every view taken of them is released. */
  constructor(slabBytes = 1 << 22, pool?: SlabPool) {
    this.#slabBytes = slabBytes;
    this.#pool = pool;
    this.#buf = pool === undefined ? Buffer.allocUnsafe(slabBytes) : pool.get(slabBytes);
    this.#view = viewOf(this.#buf);
  }

  /** Room for `n` more bytes. */
  #ensure(n: number): Buffer {
    if (this.#pos + n > this.#buf.length) {
      const pending = this.#pos - this.#start;
      const size = Math.max(this.#slabBytes, (pending + n) * 2);
      const pool = this.#pool;
      const next = pool === undefined ? Buffer.allocUnsafe(size) : pool.get(size);
      this.#buf.copy(next, 0, this.#start, this.#pos);
      pool?.retire(this.#buf);
      this.#buf = next;
      this.#view = viewOf(next);
      this.#start = 0;
      this.#pos = pending;
    }
    return this.#buf;
  }

  varint(v: number): void {
    const b = this.#ensure(10);
    while (v >= 0x80) {
      b[this.#pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.#pos++] = v;
  }

  string(s: string): void {
    const n = s.length;
    // Short ASCII strings (ids, names, attribute keys and most values) are copied by hand: a
    // loop beats a native UTF-8 encode call at these sizes. Length < 128 is a one-byte varint.
    if (n < 128) {
      const b = this.#ensure(n + 1);
      const start = this.#pos;
      let p = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[start] = n;
        this.#pos = p;
        return;
      }
    }
    // Lone surrogates become U+FFFD here, so every stored string is valid UTF-8.
    const bytes = Buffer.byteLength(s);
    this.varint(bytes);
    const b = this.#ensure(bytes);
    this.#pos += b.write(s, this.#pos, bytes, 'utf8');
  }

  u8(v: number): void {
    this.#ensure(1)[this.#pos++] = v & 0xff;
  }

  /** Int64 or UInt64 from a bigint (DateTime64(9) nanoseconds, durations), modulo 2^64. */
  i64(v: bigint): void {
    this.#ensure(8);
    this.#view.setBigInt64(this.#pos, v, true);
    this.#pos += 8;
  }

  f64(v: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, v, true);
    this.#pos += 8;
  }

  bytes(src: Buffer): void {
    const n = src.length;
    const b = this.#ensure(n);
    // A short copy by hand: Buffer.copy's native call costs more than the loop below 64 bytes
    // (a resource's or scope's encoded columns, once per span).
    if (n < 64) {
      const p = this.#pos;
      for (let i = 0; i < n; i++) b[p + i] = src[i]!;
    } else src.copy(b, this.#pos);
    this.#pos += n;
  }

  /**
   * `src[start, end)` as they are (values already encoded: hex ids with their lengths); with
   * src's DataView, four bytes per step.
   */
  raw(src: Uint8Array, start: number, end: number, view?: DataView): void {
    const n = end - start;
    const b = this.#ensure(n);
    let i = 0;
    if (view !== undefined) {
      const out = this.#view;
      for (; i + 4 <= n; i += 4) out.setUint32(this.#pos + i, view.getUint32(start + i));
    }
    for (; i < n; i++) b[this.#pos + i] = src[start + i]!;
    this.#pos += n;
  }

  /** UInt32 little-endian. */
  u32(v: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }

  /**
   * A String column from UTF-8 bytes in `src[start, end)` (a protobuf string field): ASCII is
   * copied as it is; anything else goes through a JS string, so invalid sequences become U+FFFD
   * exactly as string() stores a decoded field.
   */
  utf8(src: Buffer, start: number, end: number, view?: DataView): void {
    const n = end - start;
    if (n >= 128) {
      this.string(src.toString('utf8', start, end));
      return;
    }
    const b = this.#ensure(n + 1);
    let p = this.#pos + 1;
    let i = start;
    // With the source's DataView, words (checked for ASCII together): the byte-at-a-time copy
    // was the decoder's largest self time on sidecar-shaped spans. Eight bytes per step, then
    // the last four bytes as one word that may overlap those already copied (the same bytes
    // again): no byte loop.
    if (view !== undefined && n >= 4) {
      const out = this.#view;
      for (; i + 8 <= end; i += 8, p += 8) {
        const w0 = view.getInt32(i, true);
        const w1 = view.getInt32(i + 4, true);
        if (((w0 | w1) & 0x80808080) !== 0) {
          this.string(src.toString('utf8', start, end));
          return;
        }
        out.setInt32(p, w0, true);
        out.setInt32(p + 4, w1, true);
      }
      const last = view.getInt32(end - 4, true);
      const mid = i + 4 < end ? view.getInt32(i, true) : 0;
      if (((last | mid) & 0x80808080) !== 0) {
        this.string(src.toString('utf8', start, end));
        return;
      }
      const base = this.#pos + 1;
      out.setInt32(base + n - 4, last, true);
      if (i + 4 < end) out.setInt32(p, mid, true);
      b[this.#pos] = n;
      this.#pos = base + n;
      return;
    }
    for (; i < end; i++) {
      const c = src[i]!;
      if (c >= 0x80) {
        this.string(src.toString('utf8', start, end));
        return;
      }
      b[p++] = c;
    }
    b[this.#pos] = n;
    this.#pos = p;
  }

  /** A String column holding `src[start, end)` as lower-case hex (trace and span ids). */
  hex(src: Uint8Array, start: number, end: number): void {
    const n = (end - start) * 2;
    this.varint(n);
    const b = this.#ensure(n);
    let p = this.#pos;
    for (let i = start; i < end; i++) {
      const v = src[i]!;
      b[p++] = HEX_DIGITS[v >>> 4]!;
      b[p++] = HEX_DIGITS[v & 15]!;
    }
    this.#pos = p;
  }

  /** Bytes `[from, to)` written since the last take, as a one-byte string (hex ids read back from a row). */
  latin1(from: number, to: number): string {
    return this.#buf.toString('latin1', this.#start + from, this.#start + to);
  }

  /** Bytes written since the last take. */
  get length(): number {
    return this.#pos - this.#start;
  }

  /** Drops what was written after the first `length` bytes since the last take (a failed decode's partial rows). */
  truncate(length: number): void {
    this.#pos = this.#start + length;
  }

  /**
   * take() without making the view: what was written since the last take is `[start, end)` of
   * the slab returned, stored at `ranges[at]` and `ranges[at + 1]` (the slab is never written
   * there again).
   */
  takeRange(ranges: Int32Array, at: number): Buffer {
    ranges[at] = this.#start;
    ranges[at + 1] = this.#pos;
    if (this.#pos > this.#start) this.#pool?.handOut(this.#buf);
    this.#start = this.#pos;
    return this.#buf;
  }

  /** What was written since the last take, as a view of the slab (valid for good). */
  take(): Buffer {
    // Nothing written: one shared empty Buffer (most of a span record's 32 column streams are
    // empty in each of its lanes, and a view costs an allocation).
    if (this.#pos === this.#start) return EMPTY;
    const out = this.#buf.subarray(this.#start, this.#pos);
    this.#pool?.handOut(this.#buf);
    this.#start = this.#pos;
    return out;
  }

  /** The RowBinaryWithNames header: column count and names. */
  static header(columns: readonly string[]): Buffer {
    const w = new RowBinaryWriter(256);
    w.varint(columns.length);
    for (const c of columns) w.string(c);
    return w.take();
  }
}

const EMPTY = Buffer.alloc(0);

/** A pooled slab: views handed out and not released yet, and whether a writer still writes into it. */
interface SlabState {
  views: number;
  writing: boolean;
}

/**
 * Slabs of RowBinaryWriters used again once every view taken of them is released (the rows
 * they hold are stored), instead of a new slab for each one filled: per 100k sidecar-shaped
 * spans the span columns and edges took ~45 MB of new ArrayBuffers, each a malloc, fresh pages
 * faulted in and zeroed by the kernel, and external memory that only a major GC gave back.
 * A view never released (rows dropped or decoded again from the log) leaves its slab to the
 * GC as before. The free slabs are bounded, and let go of once the pool has been idle.
 */
export class SlabPool {
  readonly #maxFreeBytes: number;
  /** Free slabs by byte length. */
  readonly #free = new Map<number, Buffer[]>();
  #freeBytes = 0;
  readonly #state = new WeakMap<ArrayBufferLike, SlabState>();
  #used = false;

  constructor(maxFreeBytes: number) {
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** Bytes of free slabs held. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A slab of `size` bytes for a writer to fill (contents undefined, as allocUnsafe's). */
  get(size: number): Buffer {
    this.#used = true;
    const b = this.#free.get(size)?.pop() ?? Buffer.allocUnsafe(size);
    if (b.buffer.byteLength !== b.length) return b; // a view of Node's shared pool: never pooled
    if (this.#state.has(b.buffer)) this.#freeBytes -= b.length;
    this.#state.set(b.buffer, { views: 0, writing: true });
    return b;
  }

  /** A view of `slab` was handed out (a record's rows). */
  handOut(slab: Buffer): void {
    const st = this.#state.get(slab.buffer);
    if (st !== undefined) st.views++;
  }

  /** The writer moved on from `slab`: it is free once its views are released. */
  retire(slab: Buffer): void {
    const st = this.#state.get(slab.buffer);
    if (st === undefined) return;
    st.writing = false;
    if (st.views === 0) this.#put(slab.buffer, st);
  }

  /** A view handed out of a pooled slab is read no more (any view of it: the slab is found by its memory). */
  release(view: Uint8Array): void {
    const st = this.#state.get(view.buffer);
    if (st === undefined || st.views === 0) return;
    if (--st.views === 0 && !st.writing) this.#put(view.buffer, st);
  }

  /** Lets go of the free slabs if none was taken since the last call (a timer's, every second or so). */
  trim(): void {
    if (!this.#used) {
      for (const list of this.#free.values()) for (const b of list) this.#state.delete(b.buffer);
      this.#free.clear();
      this.#freeBytes = 0;
    }
    this.#used = false;
  }

  #put(memory: ArrayBufferLike, st: SlabState): void {
    const size = memory.byteLength;
    if (this.#freeBytes + size > this.#maxFreeBytes) {
      this.#state.delete(memory);
      return;
    }
    st.writing = true; // not written, but not free to put twice either
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, (list = []));
    list.push(Buffer.from(memory, 0, size));
    this.#freeBytes += size;
  }
}

/** '0'-'9', 'a'-'f' as bytes. */
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
