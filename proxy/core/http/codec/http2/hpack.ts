// HPACK (RFC 7541): the header compression both HTTP/2 peers keep in step. The decoder keeps
// the dynamic table (a ring of names and values), applies size updates and decodes Huffman
// strings; past the header list limits it keeps decoding, so the table stays in step, but stops
// collecting fields, so a bomb (a few octets naming a large entry again and again) costs
// nothing. The encoder indexes what repeats into a dynamic table of its own, bounded by the
// peer's SETTINGS_HEADER_TABLE_SIZE, never indexes credentials or per-request values, and
// Huffman-codes a literal when that is shorter. Neither
// side knows about frames or streams, so a client codec and an ADS server can use them as is.
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';

/** RFC 7541 Appendix A: index 1..61. */
// biome-ignore format: one entry per line would run the table past a screen for no gain
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = STATIC_TABLE.length;
/** RFC 7541 §4.1: each entry costs 32 octets on top of its name and value. */
export const ENTRY_OVERHEAD = 32;
/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;

/** Why a header block was not decoded. */
export const HpackStatus = {
  OK: 0,
  /** The block is not valid HPACK: a connection error (COMPRESSION_ERROR). */
  COMPRESSION_ERROR: 1,
  /** Valid, but past the header list limits: the table is in step, the stream is refused. */
  OVERFLOW: 2,
} as const;
export type HpackStatus = (typeof HpackStatus)[keyof typeof HpackStatus];

/** Limits on one decoded header list (Envoy's max_request_headers_kb and max_headers_count). */
export interface HeaderListLimits {
  /** Octets of names and values, summed. */
  readonly maxBytes: number;
  /** Fields, pseudo-headers included. */
  readonly maxFields: number;
}

/**
 * The dynamic table (§2.3.2, §4.1-4.4) as either end keeps it: a ring of names and values, the
 * newest at dynamic index 1 (HPACK index 62), bounded in octets, the oldest evicted to make
 * room. Entries are numbered as inserted, so an encoder can find one again by name or value and
 * work out its index (`inserted - seq + 1`); `onEvict` tells it which left. The ring grows as
 * entries are added (each costs at least 32 octets, so a table holds at most size/32 of them).
 */
export class DynamicTable {
  #maxSize: number;
  #size = 0;
  #names: string[];
  #values: string[];
  #mask: number;
  /** Ring position of the newest entry's successor. */
  #head = 0;
  #count = 0;
  #inserted = 0;
  readonly #onEvict: ((name: string, value: string, seq: number) => void) | null;

  constructor(maxSize: number, onEvict: ((name: string, value: string, seq: number) => void) | null = null) {
    this.#maxSize = maxSize;
    this.#onEvict = onEvict;
    let cap = 8;
    while (cap < Math.floor(maxSize / ENTRY_OVERHEAD) + 1) cap *= 2;
    this.#names = new Array<string>(cap).fill('');
    this.#values = new Array<string>(cap).fill('');
    this.#mask = cap - 1;
  }

  /** Octets the entries take (§4.1). */
  get size(): number {
    return this.#size;
  }

  get maxSize(): number {
    return this.#maxSize;
  }

  /** Entries held: dynamic indexes 1..count are valid. */
  get count(): number {
    return this.#count;
  }

  /** Entries ever inserted: the newest entry's sequence number. */
  get inserted(): number {
    return this.#inserted;
  }

  /** The name at dynamic index `d` (1: newest); `d` within 1..count. */
  name(d: number): string {
    return this.#names[(this.#head - d) & this.#mask]!;
  }

  value(d: number): string {
    return this.#values[(this.#head - d) & this.#mask]!;
  }

  /** A new bound (a size update): entries past it are evicted. */
  setMaxSize(size: number): void {
    this.#maxSize = size;
    this.#evict(0);
  }

  /** Adds an entry; one larger than the table empties it and is not added (§4.4). */
  insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.#evict(size);
    if (size > this.#maxSize) return;
    if (this.#count === this.#names.length) this.#grow();
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#head = (this.#head + 1) & this.#mask;
    this.#count++;
    this.#inserted++;
    this.#size += size;
  }

  /** Evicts the oldest entries until `room` more octets fit (all of them when it cannot). */
  #evict(room: number): void {
    while (this.#count > 0 && this.#size + room > this.#maxSize) {
      const slot = (this.#head - this.#count) & this.#mask;
      const name = this.#names[slot]!;
      const value = this.#values[slot]!;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
      this.#names[slot] = '';
      this.#values[slot] = '';
      this.#count--;
      this.#onEvict?.(name, value, this.#inserted - this.#count);
    }
  }

  /** Doubles the ring, the entries kept oldest first from slot 0. */
  #grow(): void {
    const cap = this.#names.length * 2;
    const names = new Array<string>(cap).fill('');
    const values = new Array<string>(cap).fill('');
    for (let d = this.#count; d >= 1; d--) {
      names[this.#count - d] = this.name(d);
      values[this.#count - d] = this.value(d);
    }
    this.#names = names;
    this.#values = values;
    this.#mask = cap - 1;
    this.#head = this.#count;
  }
}

export class HpackDecoder {
  /** The size our SETTINGS_HEADER_TABLE_SIZE allows; a size update may not exceed it. */
  readonly #limit: number;
  readonly #table: DynamicTable;
  #pos = 0;

  constructor(maxTableSize = DEFAULT_TABLE_SIZE) {
    this.#limit = maxTableSize;
    this.#table = new DynamicTable(maxTableSize);
  }

  /** Octets the dynamic table holds (tests). */
  get dynamicTableSize(): number {
    return this.#table.size;
  }

  /**
   * Decodes one complete header block into `out` as name, value, name, value... The fields are
   * collected within `limits`; past them decoding goes on (the table must stay in step) and the
   * block's status is OVERFLOW.
   */
  decode(block: Buffer, out: string[], limits: HeaderListLimits): HpackStatus {
    this.#pos = 0;
    const end = block.length;
    let bytes = 0;
    let fields = 0;
    let overflow = false;
    let first = true;
    while (this.#pos < end) {
      const b = block[this.#pos]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        const index = this.#int(block, 7);
        if (index <= 0) return HpackStatus.COMPRESSION_ERROR;
        if (index <= STATIC_COUNT) {
          const e = STATIC_TABLE[index - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const d = index - STATIC_COUNT;
          if (d > this.#table.count) return HpackStatus.COMPRESSION_ERROR;
          name = this.#table.name(d);
          value = this.#table.value(d);
        }
      } else if (b >= 0x40 || b < 0x20) {
        // 01xxxxxx: with incremental indexing; 0000xxxx / 0001xxxx: without / never indexed.
        const indexing = b >= 0x40;
        const index = this.#int(block, indexing ? 6 : 4);
        if (index < 0) return HpackStatus.COMPRESSION_ERROR;
        if (index === 0) {
          const n = this.#string(block);
          if (n === null) return HpackStatus.COMPRESSION_ERROR;
          name = n;
        } else if (index <= STATIC_COUNT) {
          name = STATIC_TABLE[index - 1]![0];
        } else {
          const d = index - STATIC_COUNT;
          if (d > this.#table.count) return HpackStatus.COMPRESSION_ERROR;
          name = this.#table.name(d);
        }
        const v = this.#string(block);
        if (v === null) return HpackStatus.COMPRESSION_ERROR;
        value = v;
        if (indexing) this.#table.insert(name, value);
      } else {
        // 001xxxxx: a dynamic table size update, allowed only before the block's first field.
        if (!first) return HpackStatus.COMPRESSION_ERROR;
        const size = this.#int(block, 5);
        if (size < 0 || size > this.#limit) return HpackStatus.COMPRESSION_ERROR;
        this.#table.setMaxSize(size);
        continue;
      }
      first = false;
      bytes += name.length + value.length;
      if (overflow || ++fields > limits.maxFields || bytes > limits.maxBytes) {
        overflow = true;
        continue;
      }
      out.push(name, value);
    }
    return overflow ? HpackStatus.OVERFLOW : HpackStatus.OK;
  }

  /** An integer with an N-bit prefix (§5.1); -1 when truncated or past 2^28. */
  #int(block: Buffer, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let pos = this.#pos;
    let value = block[pos++]! & mask;
    if (value === mask) {
      let shift = 0;
      for (;;) {
        if (pos >= block.length || shift > 21) return -1;
        const b = block[pos++]!;
        value += (b & 0x7f) << shift;
        shift += 7;
        if (b < 0x80) break;
      }
    }
    this.#pos = pos;
    return value;
  }

  /** A string literal (§5.2); null when truncated or a bad Huffman string. */
  #string(block: Buffer): string | null {
    if (this.#pos >= block.length) return null;
    const huffman = block[this.#pos]! >= 0x80;
    const len = this.#int(block, 7);
    if (len < 0) return null;
    const start = this.#pos;
    const end = start + len;
    if (end > block.length) return null;
    this.#pos = end;
    if (huffman) return huffmanDecode(block, start, end);
    return block.toString('latin1', start, end);
  }
}

/** Static index of each name (its first entry), for literals with an indexed name. */
const STATIC_NAME_INDEX = new Map<string, number>();
/** Static index of each full (name, value) entry with a value. */
const STATIC_FIELD_INDEX = new Map<string, Map<string, number>>();
for (let i = STATIC_COUNT - 1; i >= 0; i--) {
  const [name, value] = STATIC_TABLE[i]!;
  STATIC_NAME_INDEX.set(name, i + 1);
  if (value === '') continue;
  let byValue = STATIC_FIELD_INDEX.get(name);
  if (byValue === undefined) STATIC_FIELD_INDEX.set(name, (byValue = new Map()));
  byValue.set(value, i + 1);
}

/** Writes `value` with an N-bit prefix and `first`'s high bits at `dst[pos]`; returns the next position. */
export function writeInt(dst: Buffer, pos: number, value: number, prefixBits: number, first: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    dst[pos++] = first | value;
    return pos;
  }
  dst[pos++] = first | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    dst[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  dst[pos++] = rest;
  return pos;
}

/** Below this length a string is copied octet by octet: cheaper than a call into Buffer.write. */
const SHORT_STRING = 64;

/**
 * A string literal (§5.2), Huffman-coded when that is shorter, as nghttp2 and Envoy send them:
 * the tokens, paths, ids and hex a mesh forwards take about three quarters of their octets so.
 * A string under 127 octets (a one-octet length either way) is coded in one pass after its
 * length octet, given up once the code is no shorter; a longer one is measured first.
 */
function writeString(dst: Buffer, pos: number, s: string): number {
  const n = s.length;
  if (n < 0x7f) {
    const end = huffmanEncode(s, dst, pos + 1, pos + n);
    if (end >= 0) {
      dst[pos] = 0x80 | (end - pos - 1);
      return end;
    }
    dst[pos++] = n;
  } else {
    const coded = huffmanLength(s);
    if (coded < n) return huffmanEncode(s, dst, writeInt(dst, pos, coded, 7, 0x80));
    pos = writeInt(dst, pos, n, 7, 0);
  }
  if (n >= SHORT_STRING) return pos + dst.write(s, pos, 'latin1');
  for (let i = 0; i < n; i++) dst[pos + i] = s.charCodeAt(i);
  return pos + n;
}

/**
 * Names whose values are not worth a table entry: they differ on nearly every message (an entry
 * would only push out the ones that repeat) or, like :path, would leave a request's target in the
 * table. nghttp2 keeps the same list; the ids and trace context a mesh adds to every request are
 * ours: each would cost ~100 octets of table per request and evict content-type within a few dozen.
 * One entry per such name is made all the same (its first value, when the name is not in the
 * static table and the entry takes under a quarter of the table): later values then name it by
 * index, as nghttp2's would, where `x-envoy-upstream-service-time` alone is 21 octets a response.
 */
const WITHOUT_INDEXING: ReadonlySet<string> = new Set([
  ':path',
  'age',
  'content-length',
  'etag',
  'if-modified-since',
  'if-none-match',
  'location',
  'set-cookie',
  'x-request-id',
  'x-client-trace-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-upstream-service-time',
  'grpc-timeout',
]);

/**
 * Names sent "never indexed" (§6.2.3, §7.1.3): credentials, and short cookies, which a table entry
 * would expose to a guess-and-compare (CRIME-style) attack. An intermediary must forward them so.
 */
const NEVER_INDEXED: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization']);
/** nghttp2's bound: a cookie shorter than this is guessable, so it is never indexed. */
const SHORT_COOKIE = 20;
/** Our own table's size: nghttp2's default, whatever larger size the peer allows. */
export const ENCODER_TABLE_SIZE = 4096;

/**
 * Writes header blocks and keeps a dynamic table (§2.3.2) in step with the peer's decoder: a
 * field that repeats (content-type, te, user-agent, grpc-status ...) goes out once as a literal
 * with incremental indexing (§6.2.1) and afterwards as one indexed octet. The table is bounded
 * by the smaller of the peer's SETTINGS_HEADER_TABLE_SIZE and our own limit; a change of that
 * bound is announced by a size update at the next block's start (§4.2, §6.3).
 */
export class HpackEncoder {
  /** Our own limit on the table, whatever the peer allows. */
  #limit: number;
  /** The peer's SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2: 4096 until it says otherwise). */
  #peerSize = DEFAULT_TABLE_SIZE;
  /** A size update owed at the next block's start (-1: none), and the smallest the bound fell to before it. */
  #sizeUpdate = -1;
  #minUpdate = -1;
  /** The table the peer's decoder keeps in step; an entry with sequence q has HPACK index STATIC_COUNT + 1 + (inserted - q). */
  readonly #table = new DynamicTable(DEFAULT_TABLE_SIZE, (name, value, seq) => this.#forget(name, value, seq));
  /** name -> value -> sequence of the entry, and name -> newest entry's sequence. */
  readonly #byField = new Map<string, Map<string, number>>();
  readonly #byName = new Map<string, number>();

  constructor(limit = ENCODER_TABLE_SIZE) {
    this.#limit = limit;
    if (limit < DEFAULT_TABLE_SIZE) this.#resize();
  }

  /** Octets the dynamic table holds (tests). */
  get dynamicTableSize(): number {
    return this.#table.size;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed: the table may be no larger. */
  onPeerTableSize(size: number): void {
    this.#peerSize = size;
    this.#resize();
  }

  /** Our own limit changed (0 stops indexing): announced at the next block, as the peer's is. */
  setLimit(limit: number): void {
    this.#limit = limit;
    this.#resize();
  }

  #resize(): void {
    const size = Math.min(this.#limit, this.#peerSize);
    // The peer's decoder already holds this bound: nothing to announce (a larger SETTINGS value
    // than our limit lands here).
    if (size === this.#table.maxSize && this.#sizeUpdate < 0) return;
    this.#table.setMaxSize(size);
    // §4.2: if the bound fell and rose again between two blocks, the smallest goes out first.
    this.#minUpdate = this.#sizeUpdate < 0 ? size : Math.min(this.#minUpdate, size);
    this.#sizeUpdate = size;
  }

  /** Octets a block with these fields may take at most (for sizing its buffer). */
  static bound(names: readonly string[], values: readonly string[]): number {
    let n = 16;
    for (let i = 0; i < names.length; i++) n += names[i]!.length + values[i]!.length + 12;
    return n;
  }

  /** Starts a block at `dst[pos]`: the owed size update(s), if any. */
  begin(dst: Buffer, pos: number): number {
    if (this.#sizeUpdate < 0) return pos;
    if (this.#minUpdate < this.#sizeUpdate) pos = writeInt(dst, pos, this.#minUpdate, 5, 0x20);
    pos = writeInt(dst, pos, this.#sizeUpdate, 5, 0x20);
    this.#sizeUpdate = -1;
    this.#minUpdate = -1;
    return pos;
  }

  /** Writes one field (name lower-case) at `dst[pos]`; returns the next position. */
  field(dst: Buffer, pos: number, name: string, value: string): number {
    const byValue = STATIC_FIELD_INDEX.get(name);
    if (byValue !== undefined) {
      const full = byValue.get(value);
      if (full !== undefined) return writeInt(dst, pos, full, 7, 0x80);
    }
    if (NEVER_INDEXED.has(name) || (name === 'cookie' && value.length < SHORT_COOKIE)) {
      return this.#literal(dst, pos, name, value, 4, 0x10);
    }
    const seq = this.#byField.get(name)?.get(value);
    const table = this.#table;
    if (seq !== undefined) return writeInt(dst, pos, STATIC_COUNT + 1 + table.inserted - seq, 7, 0x80);
    const entry = name.length + value.length + ENTRY_OVERHEAD;
    // An entry past three quarters of the table would evict nearly everything for one field.
    if (entry > (table.maxSize * 3) >>> 2) return this.#literal(dst, pos, name, value, 4, 0);
    if (
      WITHOUT_INDEXING.has(name) &&
      (this.#byName.has(name) || STATIC_NAME_INDEX.has(name) || entry * 4 > table.maxSize)
    ) {
      return this.#literal(dst, pos, name, value, 4, 0);
    }
    pos = this.#literal(dst, pos, name, value, 6, 0x40);
    this.#insert(name, value);
    return pos;
  }

  /** A literal with the name indexed (static or dynamic) when it can be; looked up before any insert. */
  #literal(dst: Buffer, pos: number, name: string, value: string, prefixBits: number, first: number): number {
    // A static name index is never longer than a dynamic one (62 and up).
    let index = STATIC_NAME_INDEX.get(name);
    if (index === undefined) {
      const seq = this.#byName.get(name);
      if (seq !== undefined) index = STATIC_COUNT + 1 + this.#table.inserted - seq;
    }
    if (index !== undefined) pos = writeInt(dst, pos, index, prefixBits, first);
    else {
      dst[pos++] = first;
      pos = writeString(dst, pos, name);
    }
    return writeString(dst, pos, value);
  }

  #insert(name: string, value: string): void {
    this.#table.insert(name, value);
    const seq = this.#table.inserted;
    let byValue = this.#byField.get(name);
    if (byValue === undefined) this.#byField.set(name, (byValue = new Map()));
    byValue.set(value, seq);
    this.#byName.set(name, seq);
  }

  /** An entry left the table: lookups stop finding it unless a newer one took its place. */
  #forget(name: string, value: string, seq: number): void {
    const byValue = this.#byField.get(name)!;
    if (byValue.get(value) === seq) byValue.delete(value);
    if (byValue.size === 0) this.#byField.delete(name);
    if (this.#byName.get(name) === seq) this.#byName.delete(name);
  }
}
