// ClickHouse's Native format, the pieces the collector's columnar encoder needs: a block is
// varint column count, varint row count, then per column its name, its type (both as String)
// and its data as ClickHouse serializes the type in bulk (NativeWriter, position-dependent,
// no dictionary size limit):
// - String: varint byte length + bytes per value; fixed-width numbers little-endian.
// - Array(T): UInt64 end offsets per row (cumulative over the block), then the elements as T.
// - Map(K, V): Array(Tuple(K, V)): end offsets, then every key, then every value.
// - LowCardinality(String): a prefix, UInt64 1 (shared dictionaries with additional keys),
//   written once per column before any data (before the offsets of an Array or Map around
//   it); then, if the column holds any value at all, UInt64 index type (key width | has
//   additional keys | update dictionary), UInt64 key count, the keys as String, UInt64 value
//   count, and one index per value in the key width. An empty one writes nothing after the
//   prefix (an Array of LowCardinality with no elements in the whole block).
// The server reads the keys into the column's dictionary once each, so the rows pay for
// indexes, not for hashing every value again as RowBinary's LowCardinality columns do.

/** LowCardinality's index type flags (SerializationLowCardinality). */
const HAS_ADDITIONAL_KEYS = 1 << 9;
const NEED_UPDATE_DICTIONARY = 1 << 10;
const KEYS_VERSION_SHARED_WITH_ADDITIONAL = 1;

/** Keys a dictionary takes before the encoder starts a new one (between records, never within). */
export const DICTIONARY_MAX_KEYS = 1 << 16;
const DICTIONARY_MAX_BYTES = 4 << 20;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * The distinct values of a LowCardinality(String) column, each with a stable id, looked up by
 * their UTF-8 bytes (no JS string per value). Values are kept as String-encoded keys (varint
 * length + bytes), ready to be written as a block's dictionary. Ids stay valid for as long as
 * the dictionary lives; the encoder starts a new one once this one is full (`full`), and
 * records keep the dictionary their ids refer to.
 */
export class ByteDictionary {
  readonly #maxKeys: number;
  #arena: Buffer;
  #arenaView: DataView;
  #used = 0;
  /** Per id: where its encoded key starts, where its bytes start, their length, its hash. */
  #keyStart = new Int32Array(64);
  #dataStart = new Int32Array(64);
  #dataLength = new Int32Array(64);
  #hashes = new Int32Array(64);
  /** Open addressing: id + 1 per slot, 0 when free. */
  #table = new Int32Array(128);
  size = 0;
  /**
   * Per id, the id + 1 of the key that followed it last time (0: none yet). Spans of one kind
   * carry the same attribute keys in the same order: the encoder checks that guess (a byte
   * compare) before it hashes.
   */
  next = new Int32Array(64);
  /** The block being assembled that last used each id, and the id's position in its keys. */
  stamps = new Int32Array(64);
  positions = new Int32Array(64);
  readonly #scratch = Buffer.allocUnsafe(256);

  constructor(maxKeys = DICTIONARY_MAX_KEYS) {
    this.#maxKeys = maxKeys;
    this.#arena = Buffer.allocUnsafe(4096);
    this.#arenaView = viewOf(this.#arena);
  }

  /** Time for a new dictionary: records encoded from now on would grow it without bound. */
  get full(): boolean {
    return this.size >= this.#maxKeys || this.#used >= DICTIONARY_MAX_BYTES;
  }

  /** The key of `id`, String-encoded (a view that stays valid). */
  key(id: number): Buffer {
    return this.#arena.subarray(this.#keyStart[id]!, this.#dataStart[id]! + this.#dataLength[id]!);
  }

  /** The UTF-8 bytes of `id`'s key (a view that stays valid). */
  value(id: number): Buffer {
    const at = this.#dataStart[id]!;
    return this.#arena.subarray(at, at + this.#dataLength[id]!);
  }

  /**
   * The id of the UTF-8 bytes `src[start, end)` (`view` is src's DataView). Anything not ASCII
   * goes through a JS string, so invalid sequences become U+FFFD as RowBinaryWriter.utf8
   * stores them.
   */
  idOf(src: Buffer, view: DataView, start: number, end: number): number {
    let h = FNV_OFFSET ^ (end - start);
    let i = start;
    for (; i + 4 <= end; i += 4) {
      const word = view.getUint32(i);
      if ((word & 0x80808080) !== 0) return this.idOfString(src.toString('utf8', start, end));
      h = Math.imul(h ^ word, FNV_PRIME);
    }
    for (; i < end; i++) {
      const c = src[i]!;
      if (c >= 0x80) return this.idOfString(src.toString('utf8', start, end));
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    return this.#find(src, view, start, end, h);
  }

  /**
   * Whether `id`'s key is the bytes `src[start, end)`: a guess (the id the same attribute had in
   * the previous span) checked without hashing. A stored key is valid UTF-8, so equal bytes
   * need no U+FFFD pass.
   */
  is(id: number, src: Buffer, view: DataView, start: number, end: number): boolean {
    const n = end - start;
    return id < this.size && this.#dataLength[id] === n && this.#equal(id, src, view, start, n);
  }

  /** The id of a JS string's UTF-8 bytes (lone surrogates as U+FFFD). */
  idOfString(s: string): number {
    const n = Buffer.byteLength(s);
    const buf = n <= this.#scratch.length ? this.#scratch : Buffer.allocUnsafe(n);
    buf.write(s, 0, n, 'utf8');
    const view = viewOf(buf);
    let h = FNV_OFFSET ^ n;
    let i = 0;
    for (; i + 4 <= n; i += 4) h = Math.imul(h ^ view.getUint32(i), FNV_PRIME);
    for (; i < n; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    return this.#find(buf, view, 0, n, h);
  }

  #find(src: Buffer, view: DataView, start: number, end: number, hash: number): number {
    const h = hash ^ (hash >>> 15);
    const table = this.#table;
    const mask = table.length - 1;
    const n = end - start;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = table[slot]!;
      if (e === 0) return this.#add(slot, src, start, end, h);
      const id = e - 1;
      if (this.#hashes[id] !== h || this.#dataLength[id] !== n) continue;
      if (this.#equal(id, src, view, start, n)) return id;
    }
  }

  #equal(id: number, src: Buffer, view: DataView, start: number, n: number): boolean {
    const arena = this.#arenaView;
    const at = this.#dataStart[id]!;
    if (n < 4) {
      for (let i = 0; i < n; i++) if (this.#arena[at + i] !== src[start + i]) return false;
      return true;
    }
    // Eight bytes per step (one branch for two words), then the last four bytes as one word
    // that may overlap the ones already compared: no byte loop for keys of four bytes or more.
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const a = arena.getInt32(at + i, true) ^ view.getInt32(start + i, true);
      if ((a | (arena.getInt32(at + i + 4, true) ^ view.getInt32(start + i + 4, true))) !== 0) return false;
    }
    return (
      arena.getInt32(at + n - 4, true) === view.getInt32(start + n - 4, true) &&
      (i + 4 >= n || arena.getInt32(at + i, true) === view.getInt32(start + i, true))
    );
  }

  #add(slot: number, src: Buffer, start: number, end: number, h: number): number {
    const n = end - start;
    if (this.#used + n + 5 > this.#arena.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#arena.length * 2, this.#used + n + 5));
      this.#arena.copy(next, 0, 0, this.#used);
      this.#arena = next;
      this.#arenaView = viewOf(next);
    }
    const id = this.size++;
    if (id === this.#keyStart.length) this.#grow();
    const arena = this.#arena;
    this.#keyStart[id] = this.#used;
    let p = this.#used;
    let v = n;
    while (v >= 0x80) {
      arena[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    arena[p++] = v;
    this.#dataStart[id] = p;
    this.#dataLength[id] = n;
    this.#hashes[id] = h;
    src.copy(arena, p, start, end);
    this.#used = p + n;
    this.#table[slot] = id + 1;
    if (this.size * 2 > this.#table.length) this.#rehash();
    return id;
  }

  #grow(): void {
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.#keyStart = grow(this.#keyStart);
    this.#dataStart = grow(this.#dataStart);
    this.#dataLength = grow(this.#dataLength);
    this.#hashes = grow(this.#hashes);
    this.stamps = grow(this.stamps);
    this.next = grow(this.next);
    this.positions = grow(this.positions);
  }

  #rehash(): void {
    const table = new Int32Array(this.#table.length * 2);
    const mask = table.length - 1;
    for (let id = 0; id < this.size; id++) {
      let slot = this.#hashes[id]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = id + 1;
    }
    this.#table = table;
  }
}

/** A dictionary of fixed values whose ids are their positions (enum names). */
export function fixedDictionary(values: readonly string[]): ByteDictionary {
  const d = new ByteDictionary(Number.MAX_SAFE_INTEGER);
  for (const v of values) d.idOfString(v);
  return d;
}

let blockStamp = 0;

/** Writes little-endian UInt64s (all below 2^32 here) into a new Buffer. */
function u64s(values: readonly number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  const v = viewOf(b);
  for (let i = 0; i < values.length; i++) v.setUint32(i * 8, values[i]!, true);
  return b;
}

/** The String-encoded name or type of a column header. */
export function headerString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const len: number[] = [];
  let v = bytes.length;
  while (v >= 0x80) {
    len.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  len.push(v);
  return Buffer.concat([Buffer.from(len), bytes]);
}

/** LowCardinality's per-column prefix. */
export const LOW_CARDINALITY_PREFIX = u64s([KEYS_VERSION_SHARED_WITH_ADDITIONAL]);

/** A varint (block column and row counts). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/**
 * The platform stores typed-array elements little-endian, as Native does: UInt32 words can then
 * be read and written through Uint32Array views of 4-byte aligned buffers (one typed load or
 * store each) instead of DataView calls; the DataView paths stay for anything else.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** `b` as UInt32 words, when it can be viewed so (little-endian platform, aligned, whole words). */
const u32View = (b: Uint8Array): Uint32Array | undefined =>
  LITTLE_ENDIAN && (b.byteOffset & 3) === 0 && (b.byteLength & 3) === 0
    ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2)
    : undefined;

/** Sizes (UInt32 per row, per record) as a block's Array end offsets (UInt64, cumulative). */
export function offsets(out: Buffer[], sizes: readonly Buffer[], arena?: BlockArena): void {
  let total = 0;
  for (const s of sizes) total += s.length >>> 2;
  const b = blockBuffer(arena, total * 8);
  const w = u32View(b);
  let end = 0;
  let p = 0;
  for (const s of sizes) {
    const sw = w === undefined ? undefined : u32View(s);
    if (w !== undefined && sw !== undefined) {
      // Each row's UInt64: the offset in the low word, 0 in the high one (offsets stay below 2^32).
      for (let i = 0; i < sw.length; i++) {
        end += sw[i]!;
        w[p++] = end;
        w[p++] = 0;
      }
      continue;
    }
    const v = viewOf(b);
    const sv = viewOf(s);
    for (let i = 0; i < s.length; i += 4) {
      end += sv.getUint32(i, true);
      v.setUint32(p * 4, end, true);
      v.setUint32(p * 4 + 4, 0, true);
      p += 2;
    }
  }
  out.push(b);
}

const ARENA_SLAB = 1 << 20;

/**
 * A block's own buffers (Array offsets, LowCardinality keys and indexes), cut from memory kept
 * from one block to the next: about 20 MB per 100k sidecar-shaped spans that were each a fresh
 * allocation (malloc, pages faulted in, external memory towards V8's next mark-compact) and
 * garbage once the block was staged. `reset` once nothing reads the last block's buffers;
 * `clear` lets the memory go (an idle writer holds none).
 */
export class BlockArena {
  /** The slabs in the order they are cut; `#slab` is being cut from `#at`. */
  #slabs: Buffer[] = [];
  #slab = 0;
  #at = 0;
  /** Bytes cut for the current block. */
  #taken = 0;
  /** A LowCardinality column's indexes before they are narrowed (one column at a time). */
  #scratch: Buffer | undefined;

  /** `n` bytes for the block (contents undefined), valid until reset. */
  take(n: number): Buffer {
    // 8-byte aligned starts: the views' DataViews stay on aligned words.
    const size = (n + 7) & ~7;
    this.#taken += size;
    let slab = this.#slabs[this.#slab];
    if (slab === undefined || this.#at + size > slab.length) {
      const next = this.#slabs[this.#slab + 1];
      if (slab !== undefined && next !== undefined && size <= next.length) this.#slab++;
      else {
        // A slab that cannot hold it is dropped, not skipped: no unused memory in between.
        const fresh = Buffer.allocUnsafeSlow(Math.max(ARENA_SLAB, size));
        if (slab === undefined) this.#slabs[this.#slab] = fresh;
        else this.#slabs[++this.#slab] = fresh;
      }
      slab = this.#slabs[this.#slab]!;
      this.#at = 0;
    }
    const b = slab.subarray(this.#at, this.#at + n);
    this.#at += size;
    return b;
  }

  /** `n` bytes valid until the next scratch call (contents undefined). */
  scratch(n: number): Buffer {
    if (this.#scratch === undefined || this.#scratch.length < n) this.#scratch = Buffer.allocUnsafeSlow(n);
    return this.#scratch.subarray(0, n);
  }

  /** Bytes the arena holds. */
  get bytes(): number {
    let n = this.#scratch?.length ?? 0;
    for (const s of this.#slabs) n += s.length;
    return n;
  }

  /** Every buffer taken so far is read no more: the next block is cut from the start. */
  reset(): void {
    // The slabs this block reached are kept, unless it used under a quarter of them (the
    // stream's blocks got smaller: the next ones cut fresh ones of their own size).
    this.#slabs.length = Math.min(this.#slabs.length, this.#slab + 1);
    let held = 0;
    for (const slab of this.#slabs) held += slab.length;
    if (this.#taken < held >>> 2) this.#slabs = [];
    this.#slab = 0;
    this.#at = 0;
    this.#taken = 0;
  }

  /** Lets go of the memory (after reset: nothing reads it). */
  clear(): void {
    this.#slabs = [];
    this.#scratch = undefined;
    this.#slab = 0;
    this.#at = 0;
  }
}

/** `n` bytes for a block's buffer: from the arena, else a fresh one. */
const blockBuffer = (arena: BlockArena | undefined, n: number): Buffer =>
  arena === undefined ? Buffer.allocUnsafe(n) : arena.take(n);

/**
 * Ids looked up between two steps of lowCardinalityInSteps: about a millisecond's work. The
 * span-attributes column of 51k sidecar spans is 700k ids, 5 ms in one piece at best and
 * 6-21 ms under load, the longest single turn of a block's assembly.
 */
const LOW_CARDINALITY_STEP = 1 << 17;

/**
 * The bulk data of a LowCardinality(String) column (its prefix apart) from records' ids
 * (UInt32 per value) and the dictionary each record's ids refer to: the keys the block uses,
 * each once, and the values as indexes into them. Yields after every LOW_CARDINALITY_STEP ids,
 * so a caller can give the event loop a turn. The dictionaries' stamps and positions are this
 * column's while it runs: one column of a dictionary is assembled at a time (the writer
 * inserts one batch at a time, a block's columns one after another).
 */
export function* lowCardinalityInSteps(
  out: Buffer[],
  ids: readonly Buffer[],
  dicts: readonly ByteDictionary[],
  arena?: BlockArena,
): Generator<void> {
  let total = 0;
  for (const s of ids) total += s.length >>> 2;
  if (total === 0) return;
  const stamp = ++blockStamp;
  const keys: Buffer[] = [];
  let keyBytes = 0;
  // UInt32 per value first (the key count, hence the index width, is known only at the end),
  // then narrowed to the width.
  const indexes = arena === undefined ? Buffer.allocUnsafe(total * 4) : arena.scratch(total * 4);
  const iv = viewOf(indexes);
  // Written as UInt32 words where the platform allows (an arena's scratch is aligned; a pool
  // Buffer may not be), else through the DataView.
  const iw = u32View(indexes);
  let p = 0;
  let stepEnd = LOW_CARDINALITY_STEP;
  for (let r = 0; r < ids.length; r++) {
    const d = dicts[r]!;
    const stamps = d.stamps;
    const positions = d.positions;
    const s = ids[r]!;
    const sw = iw === undefined ? undefined : u32View(s);
    const sv = sw === undefined ? viewOf(s) : undefined;
    const n = s.length >>> 2;
    for (let i = 0; i < n; ) {
      // Up to the step's end within this buffer (one buffer may hold many records' ids).
      const stop = Math.min(n, i + (stepEnd - p));
      if (sw !== undefined && iw !== undefined) {
        for (; i < stop; i++) {
          const id = sw[i]!;
          if (stamps[id] !== stamp) {
            stamps[id] = stamp;
            positions[id] = keys.length;
            const key = d.key(id);
            keys.push(key);
            keyBytes += key.length;
          }
          iw[p++] = positions[id]!;
        }
      } else {
        for (; i < stop; i++) {
          const id = sv!.getUint32(4 * i, true);
          if (stamps[id] !== stamp) {
            stamps[id] = stamp;
            positions[id] = keys.length;
            const key = d.key(id);
            keys.push(key);
            keyBytes += key.length;
          }
          iv.setUint32(4 * p++, positions[id]!, true);
        }
      }
      if (p >= stepEnd) {
        yield;
        stepEnd = p + LOW_CARDINALITY_STEP;
      }
    }
  }
  const width = keys.length <= 0x100 ? 0 : keys.length <= 0x10000 ? 1 : 2;
  out.push(u64s([width | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY, keys.length]));
  // The keys in one buffer: as chunks of their own, a block of many distinct values was
  // thousands of tiny writes when staged.
  const keyBuf = blockBuffer(arena, keyBytes);
  let k = 0;
  for (const key of keys) k += key.copy(keyBuf, k);
  out.push(keyBuf);
  out.push(u64s([total]));
  // Narrowed front to back (in place without an arena: index i is written at or before where
  // it was read, i * 4). DataView reads and writes: Buffer#writeUInt16LE per index took 33-68 ms
  // for 600k indexes where a DataView took 1.5-10 (load ~12).
  if (width === 2) {
    if (arena === undefined) out.push(indexes);
    else {
      const b = arena.take(total * 4);
      indexes.copy(b);
      out.push(b);
    }
    return;
  }
  const b = arena === undefined ? indexes : arena.take(total << width);
  if (iw !== undefined && arena !== undefined) {
    // A typed copy converts each word to the narrower type (every index fits it): one native
    // loop. The arena's buffer is 8-byte aligned, so a Uint16Array can view it.
    if (width === 0) b.set(iw.subarray(0, total));
    else new Uint16Array(b.buffer, b.byteOffset, total).set(iw.subarray(0, total));
  } else if (width === 0) for (let i = 0; i < total; i++) b[i] = iv.getUint32(i * 4, true);
  else {
    const bv = arena === undefined ? iv : viewOf(b);
    for (let i = 0; i < total; i++) bv.setUint16(i * 2, iv.getUint32(i * 4, true), true);
  }
  out.push(b.subarray(0, total << width));
}
