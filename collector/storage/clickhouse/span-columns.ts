// otel_traces as columns: the decoders write each span's fields into per-column streams (one
// RowBinaryWriter each), LowCardinality values as ids of a ByteDictionary, and every record
// takes its streams as a SpanColumns; an insert joins its records' columns into one Native
// block (native.ts). chDB then reads the block's columns as they are: no per-row parse, and
// each LowCardinality key once per block instead of a cast of every value.
//
// Rows are written into lanes by otel_traces' sorting key (ServiceName, SpanName, start second),
// so an insert's block is put in key order by ordering whole pieces, no row moved, and chDB's
// part writer skips its sort (isAlreadySorted: no permutation, no permuted copy of every
// column). Measured per insert of 16k decoded spans into chDB, best of 5 interleaved, CPU-s per
// 100k spans: synthetic 0.121 -> 0.098, sidecar-shaped 0.180 -> 0.157 (MergeTreeDataWriter-
// BlocksAlreadySorted: every otel_traces block); the insert's RSS rise for one 37k-span sidecar
// block 48-50 -> 33 MB. The lanes cost the decode ~0.03 (sidecar) to ~0.1 us per span (synthetic:
// two services, names alternating span by span). The trace-id view's block (its GROUP BY's hash
// order) is still sorted by chDB.
//
// What it costs in the collector (bench:collector, BENCH_SECONDS=8, paired with the RowBinary
// build at load ~3, CPU-s per 100k spans): sidecar-shaped spans gained (event loop 1.05 ->
// 0.88, chDB's ThreadPool 0.61 -> 0.44); synthetic spans lost on the event loop (0.48-0.50 ->
// 0.63-0.64, chDB unchanged). Its CPU profile puts the difference in the decode: in the
// collector the per-stream writes (resource(), scope(), RowBinaryWriter.u32) stay calls, where a
// decode-only loop inlines them and costs rows +0.01-0.03. Writing the resource and scope
// columns per run of spans at take() instead of per span showed no change in two more pairs
// (event loop 0.76 / 0.93 against 0.60 / 0.68, load ~3.5): the loss is not those calls alone.

import type {
  ResourceContext,
  ScopeContext,
  SpanEvent,
  SpanLink,
  SpanRecord,
  Attributes,
} from '../../receivers/otlp/model.js';
import { SPAN_COLUMNS, spanKindName, statusCodeName } from '../../receivers/otlp/model.js';
import {
  type BlockArena,
  ByteDictionary,
  DICTIONARY_MAX_KEYS,
  fixedDictionary,
  headerString,
  LOW_CARDINALITY_PREFIX,
  lowCardinalityInSteps,
  offsets,
  varint,
} from './native.js';
import { RowBinaryWriter, type SlabPool } from './rowbinary.js';

/** The streams of a record's columns (the order is SPAN_COLUMNS'; sizes are UInt32 per row). */
export const S = {
  timestamp: 0,
  traceId: 1,
  spanId: 2,
  parentSpanId: 3,
  traceState: 4,
  spanName: 5,
  spanKind: 6,
  serviceName: 7,
  resourceSizes: 8,
  resourceKeys: 9,
  resourceValues: 10,
  scopeName: 11,
  scopeVersion: 12,
  attributeSizes: 13,
  attributeKeys: 14,
  attributeValues: 15,
  duration: 16,
  statusCode: 17,
  statusMessage: 18,
  eventCounts: 19,
  eventTimes: 20,
  eventNames: 21,
  eventAttributeSizes: 22,
  eventAttributeKeys: 23,
  eventAttributeValues: 24,
  linkCounts: 25,
  linkTraceIds: 26,
  linkSpanIds: 27,
  linkTraceStates: 28,
  linkAttributeSizes: 29,
  linkAttributeKeys: 30,
  linkAttributeValues: 31,
} as const;
const STREAMS = 32;

/** Streams holding LowCardinality ids, each with its dictionary. */
const LC_STREAMS = [
  S.spanName,
  S.spanKind,
  S.serviceName,
  S.resourceKeys,
  S.attributeKeys,
  S.statusCode,
  S.eventNames,
  S.eventAttributeKeys,
  S.linkAttributeKeys,
] as const;

const SPAN_KINDS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS_CODES = ['Unset', 'Ok', 'Error'];
const SPAN_KIND_DICT = fixedDictionary(SPAN_KINDS);
const STATUS_CODE_DICT = fixedDictionary(STATUS_CODES);

/**
 * Rows of one record that share otel_traces' sorting key (ServiceName, SpanName,
 * toDateTime(Timestamp)): their column streams, and the key as ids of the record's
 * dictionaries and whole seconds.
 */
export interface SpanPiece {
  readonly rows: number;
  /** By stream: the slab its bytes are in, and where (`[ranges[2i], ranges[2i + 1])`). */
  readonly slabs: readonly Buffer[];
  readonly ranges: Int32Array;
  readonly service: number;
  readonly name: number;
  readonly second: number;
}

/** One record's otel_traces rows as column streams, with the dictionaries its ids refer to. */
export class SpanColumns {
  readonly rows: number;
  /** The record's rows by sorting key (one piece per key; several when `sorted` is false). */
  readonly pieces: readonly SpanPiece[];
  /** Each piece's rows share one key: a block of such records can be put in key order whole. */
  readonly sorted: boolean;
  /** By stream: the dictionary of an LC stream's ids. */
  readonly dicts: readonly (ByteDictionary | undefined)[];
  /** Bytes held (what it adds to a batch and to the queue's memory). */
  readonly length: number;
  readonly #pool: SlabPool | undefined;

  constructor(pieces: SpanPiece[], dicts: (ByteDictionary | undefined)[], sorted = true, pool?: SlabPool) {
    this.pieces = pieces;
    this.dicts = dicts;
    this.sorted = sorted;
    this.#pool = pool;
    let rows = 0;
    let n = 0;
    for (const p of pieces) {
      rows += p.rows;
      for (let i = 0; i < p.ranges.length; i += 2) n += p.ranges[i + 1]! - p.ranges[i]!;
    }
    this.rows = rows;
    this.length = n;
  }

  /**
   * The rows are stored and read no more: their slabs may be written again (SlabPool). Called
   * once, by the owner of the record, after its last read.
   */
  release(): void {
    const pool = this.#pool;
    if (pool === undefined) return;
    for (const p of this.pieces) {
      const r = p.ranges;
      for (let i = 0; i < STREAMS; i++) if (r[2 * i + 1]! > r[2 * i]!) pool.release(p.slabs[i]!);
    }
  }
}

/**
 * Lanes a record's rows are spread over by sorting key; a record with more keys than this
 * puts the rest into its last lane, and its block goes to chDB unsorted (chDB sorts it).
 */
const MAX_LANES = 32;
/** Slab size of lanes past the first (most records use a few; their streams are small). */
const LANE_SLAB_BYTES = 1 << 16;
const NS_PER_S = 1e9;

/** Whole seconds of a nanosecond timestamp given as two UInt32 halves (toDateTime's). */
export function secondsOf(hi: number, lo: number): number {
  const t = (hi * 4294967296 + lo) / NS_PER_S;
  const s = Math.floor(t);
  // Doubles hold the nanoseconds to ~256 ns: near a second's edge, exactly.
  if (t - s > 1e-5 && t - s < 1 - 1e-5) return s;
  return Number(((BigInt(hi) << 32n) | BigInt(lo)) / 1_000_000_000n);
}

interface ResourceIds {
  dicts: ByteDictionary[];
  service: number;
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** Writes otel_traces rows into column streams; take() hands out what was written as a record. */
export class SpanColumnsWriter {
  /** The streams of the row being written (its lane's, chosen by lane()). */
  s: RowBinaryWriter[];
  /** Per lane: its streams, its rows since the last take, its key. */
  readonly #lanes: RowBinaryWriter[][] = [];
  #laneRows: number[] = [];
  readonly #laneService = new Int32Array(MAX_LANES);
  readonly #laneName = new Int32Array(MAX_LANES);
  readonly #laneSecond = new Float64Array(MAX_LANES);
  /** Lanes holding a key since the last take, the lane of the last row, and whether some lane mixes keys. */
  #used = 0;
  #current = 0;
  #mixed = false;
  /**
   * By SpanName id: the lane its rows last went to, plus #stamp (which moves on by MAX_LANES
   * at every take, so hints of earlier records are out of range without clearing).
   */
  #nameLane = new Int32Array(64);
  #stamp = MAX_LANES;
  readonly d: (ByteDictionary | undefined)[] = new Array<ByteDictionary | undefined>(STREAMS).fill(undefined);
  readonly #maxKeys: number;
  readonly #resources = new WeakMap<ResourceContext, ResourceIds>();
  readonly #scopes = new WeakMap<ScopeContext, [Buffer, Buffer]>();
  readonly #scratch = new RowBinaryWriter(4096);
  /**
   * The first SpanAttributes key id + 1 of the last span of each kind, and the dictionary they
   * belong to: with ByteDictionary.next, a span's keys are guessed before they are hashed.
   */
  readonly firstKey = new Int32Array(8);
  firstKeyDict: ByteDictionary | undefined;
  /**
   * By SpanAttributes key id of firstKeyDict: the service graph's name for that key, null when
   * the graph does not keep it (the decoder matches a key's bytes once per dictionary, not per
   * span), for the key set graphKeysOf.
   */
  graphKeyOfId: (string | null | undefined)[] = [];
  graphKeysOf: object | undefined;
  #lastResource: ResourceContext | undefined;
  #lastResourceIds: ResourceIds | undefined;
  #lastScope: ScopeContext | undefined;
  #lastScopeBytes: [Buffer, Buffer] | undefined;

  readonly #pool: SlabPool | undefined;

  /** With `pool`, the streams' slabs come from it and go back to it as records are released. */
  constructor(maxDictionaryKeys = DICTIONARY_MAX_KEYS, pool?: SlabPool) {
    this.#maxKeys = maxDictionaryKeys;
    this.#pool = pool;
    this.s = this.#newLane(1 << 18);
    for (const i of LC_STREAMS) this.d[i] = new ByteDictionary(maxDictionaryKeys);
    this.d[S.spanKind] = SPAN_KIND_DICT;
    this.d[S.statusCode] = STATUS_CODE_DICT;
  }

  #newLane(slabBytes: number): RowBinaryWriter[] {
    const lane: RowBinaryWriter[] = [];
    for (let i = 0; i < STREAMS; i++) lane.push(new RowBinaryWriter(slabBytes, this.#pool));
    this.#lanes.push(lane);
    this.#laneRows.push(0);
    return lane;
  }

  /** Rows written since the last take. */
  get rows(): number {
    let n = 0;
    for (let i = 0; i < this.#used; i++) n += this.#laneRows[i]!;
    return n;
  }

  /**
   * Chooses the lane of the next row by its sorting key (ServiceName id, SpanName id, start
   * in whole seconds): rows of one key go to one lane, so a block can be handed to chDB in key
   * order without moving a row (an unsorted block is sorted, each column permuted and copied,
   * by chDB's part writer). Counts the row.
   */
  lane(service: number, name: number, second: number): void {
    let i = this.#current;
    if (
      i >= this.#used ||
      this.#laneService[i] !== service ||
      this.#laneName[i] !== name ||
      this.#laneSecond[i] !== second
    ) {
      // The lane this name last went to (names alternate span by span: a service's SERVER
      // and CLIENT spans), else a scan.
      if (name >= this.#nameLane.length) this.#growNameLanes(name);
      const hint = this.#nameLane[name]! - this.#stamp;
      i =
        hint >= 0 &&
        hint < this.#used &&
        this.#laneName[hint] === name &&
        this.#laneService[hint] === service &&
        this.#laneSecond[hint] === second
          ? hint
          : this.#find(service, name, second);
      if (i === this.#used) {
        if (i === MAX_LANES) {
          i = MAX_LANES - 1;
          this.#mixed = true;
        } else {
          if (i === this.#lanes.length) this.#newLane(LANE_SLAB_BYTES);
          this.#laneService[i] = service;
          this.#laneName[i] = name;
          this.#laneSecond[i] = second;
          this.#used++;
        }
      }
      this.#current = i;
      this.#nameLane[name] = this.#stamp + i;
      this.s = this.#lanes[i]!;
    }
    this.#laneRows[i]!++;
  }

  #find(service: number, name: number, second: number): number {
    let i = 0;
    for (; i < this.#used; i++)
      if (this.#laneService[i] === service && this.#laneName[i] === name && this.#laneSecond[i] === second) break;
    return i;
  }

  #growNameLanes(name: number): void {
    const next = new Int32Array(Math.max(name + 1, this.#nameLane.length * 2));
    next.set(this.#nameLane);
    this.#nameLane = next;
  }

  /** The ServiceName id of a resource (its columns' ids looked up once per dictionary). */
  serviceId(res: ResourceContext): number {
    return this.#resourceIds(res).service;
  }

  /** Where every stream is (for truncate after a failed decode). */
  mark(): number[] {
    const out: number[] = [this.#used, this.#current, this.#mixed ? 1 : 0];
    for (let l = 0; l < this.#used; l++) {
      out.push(this.#laneRows[l]!);
      for (const w of this.#lanes[l]!) out.push(w.length);
    }
    return out;
  }

  truncate(mark: readonly number[]): void {
    const used = mark[0]!;
    let p = 3;
    for (let l = 0; l < this.#used; l++) {
      const keep = l < used;
      this.#laneRows[l] = keep ? mark[p++]! : 0;
      for (const w of this.#lanes[l]!) w.truncate(keep ? mark[p++]! : 0);
    }
    this.#used = used;
    this.#current = mark[1]!;
    this.#mixed = mark[2] === 1;
    this.s = this.#lanes[this.#current]!;
  }

  /** The rows written since the last take, as one record's columns. */
  take(): SpanColumns {
    const pieces: SpanPiece[] = [];
    for (let l = 0; l < this.#used; l++) {
      const lane = this.#lanes[l]!;
      if (this.#laneRows[l] === 0) continue;
      const ranges = new Int32Array(2 * STREAMS);
      const slabs: Buffer[] = [];
      for (let i = 0; i < STREAMS; i++) slabs.push(lane[i]!.takeRange(ranges, 2 * i));
      pieces.push({
        rows: this.#laneRows[l]!,
        slabs,
        ranges,
        service: this.#laneService[l]!,
        name: this.#laneName[l]!,
        second: this.#laneSecond[l]!,
      });
      this.#laneRows[l] = 0;
    }
    const out = new SpanColumns(pieces, this.d.slice(), !this.#mixed, this.#pool);
    this.#stamp += MAX_LANES;
    if (this.#stamp > 0x3fffffff) {
      this.#stamp = MAX_LANES;
      this.#nameLane.fill(0);
    }
    this.#used = 0;
    this.#current = 0;
    this.#mixed = false;
    this.s = this.#lanes[0]!;
    // A full dictionary is left to the records that use it; the next record starts a new one.
    for (const i of LC_STREAMS) if (this.d[i]!.full) this.d[i] = new ByteDictionary(this.#maxKeys);
    return out;
  }

  spanKind(kind: number): void {
    this.s[S.spanKind]!.u32(kind >= 0 && kind < SPAN_KINDS.length ? kind : 0);
  }

  statusCode(code: number): void {
    this.s[S.statusCode]!.u32(code >= 0 && code < STATUS_CODES.length ? code : 0);
  }

  /** ServiceName and ResourceAttributes, ids looked up once per resource and dictionary. */
  resource(res: ResourceContext): void {
    const ids = this.#resourceIds(res);
    this.s[S.serviceName]!.u32(ids.service);
    this.s[S.resourceSizes]!.u32(ids.count);
    this.s[S.resourceKeys]!.bytes(ids.keys);
    this.s[S.resourceValues]!.bytes(ids.values);
  }

  #resourceIds(res: ResourceContext): ResourceIds {
    let ids = res === this.#lastResource ? this.#lastResourceIds : this.#resources.get(res);
    const svc = this.d[S.serviceName]!;
    const keys = this.d[S.resourceKeys]!;
    if (ids === undefined || ids.dicts[0] !== svc || ids.dicts[1] !== keys) {
      const w = this.#scratch;
      const attrs = res.attributes;
      for (let i = 0; i < attrs.length; i += 2) w.u32(keys.idOfString(attrs[i]!));
      const keyIds = Buffer.from(w.take());
      for (let i = 1; i < attrs.length; i += 2) w.string(attrs[i]!);
      ids = {
        dicts: [svc, keys],
        service: svc.idOfString(res.serviceName),
        keys: keyIds,
        values: Buffer.from(w.take()),
        count: attrs.length >>> 1,
      };
      this.#resources.set(res, ids);
    }
    this.#lastResource = res;
    this.#lastResourceIds = ids;
    return ids;
  }

  /** ScopeName and ScopeVersion, encoded once per scope. */
  scope(sc: ScopeContext): void {
    let enc = sc === this.#lastScope ? this.#lastScopeBytes : this.#scopes.get(sc);
    if (enc === undefined) {
      const w = this.#scratch;
      w.string(sc.name);
      const name = Buffer.from(w.take());
      w.string(sc.version);
      enc = [name, Buffer.from(w.take())];
      this.#scopes.set(sc, enc);
    }
    this.#lastScope = sc;
    this.#lastScopeBytes = enc;
    this.s[S.scopeName]!.bytes(enc[0]);
    this.s[S.scopeVersion]!.bytes(enc[1]);
  }

  /** A Map(LowCardinality(String), String) value from decoded attributes. */
  attributes(sizes: number, keys: number, values: number, attrs: Attributes): void {
    this.s[sizes]!.u32(attrs.length >>> 1);
    const k = this.s[keys]!;
    const dict = this.d[keys]!;
    const v = this.s[values]!;
    for (let i = 0; i < attrs.length; i += 2) {
      k.u32(dict.idOfString(attrs[i]!));
      v.string(attrs[i + 1]!);
    }
  }

  /** The Events.* and Links.* columns of a row. */
  eventsAndLinks(events: readonly SpanEvent[], links: readonly SpanLink[]): void {
    const s = this.s;
    s[S.eventCounts]!.u32(events.length);
    const names = this.d[S.eventNames]!;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      s[S.eventTimes]!.i64(e.timeNs);
      s[S.eventNames]!.u32(names.idOfString(e.name));
      this.attributes(S.eventAttributeSizes, S.eventAttributeKeys, S.eventAttributeValues, e.attributes);
    }
    s[S.linkCounts]!.u32(links.length);
    for (let i = 0; i < links.length; i++) {
      const l = links[i]!;
      s[S.linkTraceIds]!.string(l.traceId);
      s[S.linkSpanIds]!.string(l.spanId);
      s[S.linkTraceStates]!.string(l.traceState);
      this.attributes(S.linkAttributeSizes, S.linkAttributeKeys, S.linkAttributeValues, l.attributes);
    }
  }
}

/** One otel_traces row from a decoded span (the JSON decoder's records): writeSpanRow's values. */
export function writeSpanColumns(c: SpanColumnsWriter, sp: SpanRecord): void {
  const name = c.d[S.spanName]!.idOfString(sp.name);
  const start = BigInt.asUintN(64, sp.startNs);
  c.lane(c.serviceId(sp.resource), name, secondsOf(Number(start >> 32n), Number(start & 0xffffffffn)));
  const s = c.s;
  s[S.timestamp]!.i64(sp.startNs);
  s[S.traceId]!.string(sp.traceId);
  s[S.spanId]!.string(sp.spanId);
  s[S.parentSpanId]!.string(sp.parentSpanId);
  s[S.traceState]!.string(sp.traceState);
  s[S.spanName]!.u32(name);
  c.spanKind(SPAN_KINDS.indexOf(spanKindName(sp.kind)));
  c.resource(sp.resource);
  c.scope(sp.scope);
  c.attributes(S.attributeSizes, S.attributeKeys, S.attributeValues, sp.attributes);
  s[S.duration]!.i64(sp.endNs > sp.startNs ? sp.endNs - sp.startNs : 0n);
  c.statusCode(STATUS_CODES.indexOf(statusCodeName(sp.statusCode)));
  s[S.statusMessage]!.string(sp.statusMessage);
  c.eventsAndLinks(sp.events, sp.links);
}

/** How each column of the block is made from the records' streams. */
type Layout =
  | { kind: 'plain'; stream: number }
  | { kind: 'lc'; ids: number }
  | { kind: 'map'; sizes: number; keys: number; values: number }
  | { kind: 'array'; counts: number; data: number }
  | { kind: 'array-lc'; counts: number; ids: number }
  | { kind: 'array-map'; counts: number; sizes: number; keys: number; values: number };

const LAYOUT: Record<(typeof SPAN_COLUMNS)[number], [string, Layout]> = {
  Timestamp: ['DateTime64(9)', { kind: 'plain', stream: S.timestamp }],
  TraceId: ['String', { kind: 'plain', stream: S.traceId }],
  SpanId: ['String', { kind: 'plain', stream: S.spanId }],
  ParentSpanId: ['String', { kind: 'plain', stream: S.parentSpanId }],
  TraceState: ['String', { kind: 'plain', stream: S.traceState }],
  SpanName: ['LowCardinality(String)', { kind: 'lc', ids: S.spanName }],
  SpanKind: ['LowCardinality(String)', { kind: 'lc', ids: S.spanKind }],
  ServiceName: ['LowCardinality(String)', { kind: 'lc', ids: S.serviceName }],
  ResourceAttributes: [
    'Map(LowCardinality(String), String)',
    { kind: 'map', sizes: S.resourceSizes, keys: S.resourceKeys, values: S.resourceValues },
  ],
  ScopeName: ['String', { kind: 'plain', stream: S.scopeName }],
  ScopeVersion: ['String', { kind: 'plain', stream: S.scopeVersion }],
  SpanAttributes: [
    'Map(LowCardinality(String), String)',
    { kind: 'map', sizes: S.attributeSizes, keys: S.attributeKeys, values: S.attributeValues },
  ],
  Duration: ['UInt64', { kind: 'plain', stream: S.duration }],
  StatusCode: ['LowCardinality(String)', { kind: 'lc', ids: S.statusCode }],
  StatusMessage: ['String', { kind: 'plain', stream: S.statusMessage }],
  'Events.Timestamp': ['Array(DateTime64(9))', { kind: 'array', counts: S.eventCounts, data: S.eventTimes }],
  'Events.Name': ['Array(LowCardinality(String))', { kind: 'array-lc', counts: S.eventCounts, ids: S.eventNames }],
  'Events.Attributes': [
    'Array(Map(LowCardinality(String), String))',
    {
      kind: 'array-map',
      counts: S.eventCounts,
      sizes: S.eventAttributeSizes,
      keys: S.eventAttributeKeys,
      values: S.eventAttributeValues,
    },
  ],
  'Links.TraceId': ['Array(String)', { kind: 'array', counts: S.linkCounts, data: S.linkTraceIds }],
  'Links.SpanId': ['Array(String)', { kind: 'array', counts: S.linkCounts, data: S.linkSpanIds }],
  'Links.TraceState': ['Array(String)', { kind: 'array', counts: S.linkCounts, data: S.linkTraceStates }],
  'Links.Attributes': [
    'Array(Map(LowCardinality(String), String))',
    {
      kind: 'array-map',
      counts: S.linkCounts,
      sizes: S.linkAttributeSizes,
      keys: S.linkAttributeKeys,
      values: S.linkAttributeValues,
    },
  ],
};

const HEADERS = SPAN_COLUMNS.map((c) => Buffer.concat([headerString(c), headerString(LAYOUT[c][0])]));

/**
 * One Native block of otel_traces (SPAN_COLUMNS) from records' columns, as chunks to write
 * one after another (the records' streams are not copied).
 */
export function spanBlock(records: readonly SpanColumns[]): Buffer[] {
  const out: Buffer[] = [];
  for (const _ of blockColumns(records, out));
  return out.filter((b) => b.length > 0);
}

/**
 * spanBlock, a turn of the event loop after each column and within a LowCardinality column
 * every ~130k values: a block of ~50k spans took 13-60 ms to assemble at load ~12 (the
 * LowCardinality columns' keys and indexes), and every request arriving meanwhile (and its
 * ack) waited for all of it; in one turn per column the span-attributes column alone was 5 ms
 * at best for 51k sidecar spans.
 */
export async function spanBlockInTurns(records: readonly SpanColumns[], arena?: BlockArena): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const _ of blockColumns(records, out, arena)) await new Promise((r) => setImmediate(r));
  return out.filter((b) => b.length > 0);
}

/** A piece of a block with its record's dictionaries and, once ordered, its key's values. */
interface BlockPiece {
  piece: SpanPiece;
  dicts: readonly (ByteDictionary | undefined)[];
  service: Buffer;
  name: Buffer;
}

/**
 * The records' pieces in the order of otel_traces' sorting key (ServiceName, SpanName,
 * toDateTime(Timestamp)) when every piece holds one key, else as they came. ClickHouse's
 * part writer checks a block's order first (isAlreadySorted) and sorts only a block out of
 * order: the permutation, then a permuted copy of every column (about the block again in
 * memory). Keys compare as ClickHouse compares Strings: bytes, then length.
 */
function orderedPieces(records: readonly SpanColumns[]): BlockPiece[] {
  const out: BlockPiece[] = [];
  let sorted = true;
  for (const r of records) {
    sorted &&= r.sorted;
    for (const piece of r.pieces) out.push({ piece, dicts: r.dicts, service: EMPTY, name: EMPTY });
  }
  if (!sorted || out.length < 2) return out;
  for (const p of out) {
    p.service = p.dicts[S.serviceName]!.value(p.piece.service);
    p.name = p.dicts[S.spanName]!.value(p.piece.name);
  }
  return out.sort(
    (a, b) => Buffer.compare(a.service, b.service) || Buffer.compare(a.name, b.name) || a.piece.second - b.piece.second,
  );
}

const EMPTY = Buffer.alloc(0);

/**
 * Stream `i` of the pieces in their order, as views of their slabs: one view per run of
 * pieces whose bytes follow each other in one slab (the same lane's pieces of consecutive
 * records), not one per piece; with `dicts`, a run also ends where the dictionary changes,
 * and each run's dictionary is pushed onto it.
 */
function runs(pieces: readonly BlockPiece[], i: number, dicts: ByteDictionary[] | undefined): Buffer[] {
  const out: Buffer[] = [];
  let slab: Buffer | undefined;
  let dict: ByteDictionary | undefined;
  let start = 0;
  let end = 0;
  for (const p of pieces) {
    const r = p.piece.ranges;
    const s = r[2 * i]!;
    const e = r[2 * i + 1]!;
    if (e === s) continue;
    const b = p.piece.slabs[i]!;
    const d = dicts === undefined ? undefined : p.dicts[i];
    if (b === slab && s === end && d === dict) {
      end = e;
      continue;
    }
    if (slab !== undefined) out.push(slab.subarray(start, end));
    if (dicts !== undefined) dicts.push(d!);
    slab = b;
    dict = d;
    start = s;
    end = e;
  }
  if (slab !== undefined) out.push(slab.subarray(start, end));
  return out;
}

/** Pushes the block's chunks onto `out`, yielding after each column and inside long LowCardinality ones. */
function* blockColumns(records: readonly SpanColumns[], out: Buffer[], arena?: BlockArena): Generator<void> {
  let rows = 0;
  for (const r of records) rows += r.rows;
  out.push(varint(SPAN_COLUMNS.length), varint(rows));
  const pieces = orderedPieces(records);
  const streams = (i: number): Buffer[] => runs(pieces, i, undefined);
  // An LC stream's runs end where the dictionary changes too.
  const runDicts: ByteDictionary[] = [];
  const lc = (i: number): Buffer[] => {
    runDicts.length = 0;
    return runs(pieces, i, runDicts);
  };
  for (let c = 0; c < SPAN_COLUMNS.length; c++) {
    const name = SPAN_COLUMNS[c]!;
    out.push(HEADERS[c]!);
    const l = LAYOUT[name][1];
    switch (l.kind) {
      case 'plain':
        out.push(...streams(l.stream));
        break;
      case 'lc':
        out.push(LOW_CARDINALITY_PREFIX);
        yield* lowCardinalityInSteps(out, lc(l.ids), runDicts, arena);
        break;
      case 'map':
        out.push(LOW_CARDINALITY_PREFIX);
        offsets(out, streams(l.sizes), arena);
        yield* lowCardinalityInSteps(out, lc(l.keys), runDicts, arena);
        out.push(...streams(l.values));
        break;
      case 'array':
        offsets(out, streams(l.counts), arena);
        out.push(...streams(l.data));
        break;
      case 'array-lc':
        out.push(LOW_CARDINALITY_PREFIX);
        offsets(out, streams(l.counts), arena);
        yield* lowCardinalityInSteps(out, lc(l.ids), runDicts, arena);
        break;
      case 'array-map':
        out.push(LOW_CARDINALITY_PREFIX);
        offsets(out, streams(l.counts), arena);
        offsets(out, streams(l.sizes), arena);
        yield* lowCardinalityInSteps(out, lc(l.keys), runDicts, arena);
        out.push(...streams(l.values));
        break;
    }
    yield;
  }
}
