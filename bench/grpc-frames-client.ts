// The gRPC open-loop latency client of bench:proxy's gRPC rows by default (GRPC_CLIENT=frames):
// unary calls of /bench.Echo/Echo (64-byte messages) at a fixed rate over one HTTP/2 connection,
// written as raw frames from a template, sent regardless of replies (open loop). The same calls
// and output as grpc-open-loop-client.ts (GRPC_CLIENT=grpc-js), without grpc-js's cost: that
// client spent ~410 us of CPU per call (h2load ~12 us, the grpc-js echo server ~110 us), so on a
// shared 2-core host it was the first process to wait for a CPU, and the direct row's own p99
// (12.9 ms in a quiet run, 150 ms at load 7) was its backlog, not the server's. h2load cannot
// stand in: its --rps timer fires at most every 10 ms, so 1000 calls/s go out as bursts of 10.
//
// Per call it records the service time (frames written to END_STREAM read) and the time from
// its scheduled send; paced by 1 ms timer ticks, the calls due in a tick written together. A
// call fails on a grpc-status other than 0, a :status other than 200, RST_STREAM or GOAWAY;
// errorsByStatus counts them by "<grpc status> <grpc-message>" as the grpc-js client does.
//
// Usage: node grpc-frames-client.js PORT RATE SECONDS WARM_SECONDS
// Prints one JSON line as grpc-open-loop-client.ts does, with clientCpuUsPerCall (the measured
// phase's user + system CPU per call it made).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { HpackDecoder, HpackStatus } from '../proxy/core/http/codec/http2/hpack.js';
import {
  data,
  Flag,
  FrameType,
  headers,
  hpackIndexed,
  PREFACE,
  Setting,
  settings,
  settingsAck,
  windowUpdate,
} from '../test/proxy/h2-frames.js';
import { runPhases } from './lib/grpc-client-phases.js';

const [port, rate, seconds, warmSeconds] = process.argv.slice(2).map(Number) as [number, number, number, number];

/** A length-prefixed gRPC message (uncompressed) of 64 bytes. */
const MESSAGE = Buffer.concat([Buffer.from([0, 0, 0, 0, 64]), Buffer.alloc(64, 0x61)]);
const FIELDS: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/bench.Echo/Echo'],
  [':authority', `127.0.0.1:${port}`],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
  ['user-agent', 'meshscope-bench-grpc-frames'],
];
/**
 * One call's frames for stream 1; each call copies them and patches the two stream ids. The
 * first call's head enters the server's dynamic table (as grpc-js's does, through nghttp2); the
 * others name its entries, the newest at index 62 (RFC 7541 §2.3.3), one octet each.
 */
const callFrames = (block: Buffer): Buffer => Buffer.concat([headers(1, block), data(1, MESSAGE, true)]);
const FIRST_CALL = callFrames(Buffer.concat(FIELDS.map(([n, v]) => hpackIndexed(n, v))));
const CALL = callFrames(Buffer.from(FIELDS.map((_, i) => 0x80 | (61 + FIELDS.length - i))));
const CONNECTION_WINDOW = 0x7fffffff;

const total = Math.round(rate * (seconds + warmSeconds));
/** By call index (stream id = 2 * index + 1): when written and when scheduled (performance.now() ms). */
const writtenAt = new Float64Array(total);
const scheduledAt = new Float64Array(total);
const recorded = new Uint8Array(total);
/** 0 open, 1 done, 2 failed before its end (a :status other than 200). */
const state = new Uint8Array(total);
const serviceUs: number[] = [];
const scheduledUs: number[] = [];
const errorsByStatus: Record<string, number> = {};
let errors = 0;
/** Calls due so far; calls written so far (the ones between wait for the peer's window or streams). */
let scheduled = 0;
let sent = 0;
let outstanding = 0;
let sendWindow = 65_535;
/** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (nginx: 128); calls past it wait, as grpc-js's do. */
let maxStreams = 0x7fffffff;
/** The peer's GOAWAY code, once it sent one: calls not yet written then fail unsent. */
let goawayCode = -1;

const decoder = new HpackDecoder();
const fields: string[] = [];
const limits = { maxBytes: 1 << 20, maxFields: 1000 };
let block: Buffer[] = [];
let blockStream = 0;
let blockEnd = false;

const socket = net.connect(port, '127.0.0.1');
socket.setNoDelay(true);

function fail(i: number, key: string): void {
  // A trailers-only error answer is often followed by RST_STREAM: one failure, not two.
  if (state[i] === 1) return;
  count(key);
  finish(i, false);
}

function count(key: string): void {
  errors++;
  errorsByStatus[key] = (errorsByStatus[key] ?? 0) + 1;
}

function finish(i: number, ok: boolean): void {
  if (state[i] === 1) return;
  state[i] = 1;
  outstanding--;
  if (!ok || recorded[i] === 0) return;
  const now = performance.now();
  serviceUs.push((now - writtenAt[i]!) * 1000);
  scheduledUs.push((now - scheduledAt[i]!) * 1000);
}

/** A whole header block of stream `id`: a response head (:status) or trailers (grpc-status). */
function onHeaderBlock(id: number, endStream: boolean): void {
  fields.length = 0;
  const status = decoder.decode(block.length === 1 ? block[0]! : Buffer.concat(block), fields, limits);
  block = [];
  const i = (id - 1) / 2;
  if (status !== HpackStatus.OK) throw new Error(`grpc-frames-client: undecodable header block (${status})`);
  let httpStatus = '';
  let grpcStatus = '';
  let grpcMessage = '';
  for (let f = 0; f < fields.length; f += 2) {
    const name = fields[f];
    if (name === ':status') httpStatus = fields[f + 1]!;
    else if (name === 'grpc-status') grpcStatus = fields[f + 1]!;
    else if (name === 'grpc-message') grpcMessage = decodeURIComponent(fields[f + 1]!);
  }
  if (httpStatus !== '' && httpStatus !== '200') state[i] = 2;
  if (!endStream) return;
  if (state[i] === 2) fail(i, `http ${httpStatus}`);
  else if (grpcStatus === '0') finish(i, true);
  else fail(i, `${grpcStatus === '' ? 'no grpc-status' : grpcStatus} ${grpcMessage}`);
}

let input: Buffer | null = null;

function onData(chunk: Buffer): void {
  let buf = chunk;
  if (input !== null) {
    buf = Buffer.concat([input, chunk]);
    input = null;
  }
  let pos = 0;
  while (buf.length - pos >= 9) {
    const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
    if (buf.length - pos - 9 < len) break;
    const type = buf[pos + 3]!;
    const flags = buf[pos + 4]!;
    const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
    const start = pos + 9;
    pos = start + len;
    onFrame(type, flags, id, buf, start, pos);
  }
  if (pos < buf.length) input = buf.subarray(pos);
  // Calls waiting for a window or a stream go once this read's frames freed them.
  if (sent < scheduled) writeCalls();
}

function onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
  switch (type) {
    case FrameType.DATA:
      if ((flags & Flag.END_STREAM) !== 0) fail((id - 1) / 2, 'no grpc-status');
      return;
    case FrameType.HEADERS: {
      let s = start;
      let e = end;
      if ((flags & Flag.PADDED) !== 0) e -= buf[s++]!;
      if ((flags & Flag.PRIORITY) !== 0) s += 5;
      block = [buf.subarray(s, e)];
      blockStream = id;
      blockEnd = (flags & Flag.END_STREAM) !== 0;
      if ((flags & Flag.END_HEADERS) !== 0) onHeaderBlock(id, blockEnd);
      return;
    }
    case FrameType.CONTINUATION:
      block.push(buf.subarray(start, end));
      if ((flags & Flag.END_HEADERS) !== 0) onHeaderBlock(blockStream, blockEnd);
      return;
    case FrameType.RST_STREAM:
      fail((id - 1) / 2, `RST_STREAM ${buf.readUInt32BE(start)}`);
      return;
    case FrameType.SETTINGS:
      if ((flags & Flag.ACK) !== 0) return;
      for (let at = start; at + 6 <= end; at += 6)
        if (buf.readUInt16BE(at) === Setting.MAX_CONCURRENT_STREAMS) maxStreams = buf.readUInt32BE(at + 2);
      socket.write(settingsAck());
      return;
    case FrameType.PING:
      if ((flags & Flag.ACK) === 0) {
        const ack = Buffer.from(buf.subarray(start - 9, end));
        ack[4] = Flag.ACK;
        socket.write(ack);
      }
      return;
    case FrameType.GOAWAY: {
      const last = buf.readUInt32BE(start) & 0x7fffffff;
      goawayCode = buf.readUInt32BE(start + 4);
      // Streams above the last one it processed (client streams are odd: index = (id - 1) / 2).
      for (let i = last === 0 ? 0 : (last + 1) / 2; i < sent; i++) fail(i, `GOAWAY ${goawayCode}`);
      return;
    }
    case FrameType.WINDOW_UPDATE:
      if (id === 0) sendWindow += buf.readUInt32BE(start) & 0x7fffffff;
      return;
  }
}

/** Schedules `due` calls, the first at `from` (ms), one every `intervalMs`, and writes them. */
function schedule(due: number, record: boolean, from: number, intervalMs: number): void {
  for (let k = 0; k < due && scheduled < total; k++) {
    scheduledAt[scheduled] = from + k * intervalMs;
    recorded[scheduled++] = record ? 1 : 0;
  }
  writeCalls();
}

/** Writes the scheduled calls the peer's connection window and stream limit allow, as one write. */
function writeCalls(): void {
  if (goawayCode >= 0) {
    for (; sent < scheduled; sent++) {
      state[sent] = 1;
      count(`GOAWAY ${goawayCode} (not sent)`);
    }
    return;
  }
  const n = Math.min(scheduled - sent, Math.floor(sendWindow / MESSAGE.length), maxStreams - outstanding);
  if (n <= 0) return;
  const first = sent === 0 ? FIRST_CALL.length - CALL.length : 0;
  const out = Buffer.allocUnsafe(CALL.length * n + first);
  const now = performance.now();
  let at = 0;
  for (let k = 0; k < n; k++) {
    const i = sent++;
    const id = 2 * i + 1;
    const frames = i === 0 ? FIRST_CALL : CALL;
    frames.copy(out, at);
    out.writeUInt32BE(id, at + 5);
    out.writeUInt32BE(id, at + frames.length - 9 - MESSAGE.length + 5);
    at += frames.length;
    // A call that waited keeps its schedule: the wait is in scheduledUs, not serviceUs.
    writtenAt[i] = now;
    outstanding++;
  }
  sendWindow -= n * MESSAGE.length;
  socket.write(out);
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

async function paced(secs: number, record: boolean): Promise<void> {
  const count = Math.round(rate * secs);
  const intervalMs = 1000 / rate;
  const start = performance.now();
  let n = 0;
  while (n < count) {
    const due = Math.min(count, Math.floor((performance.now() - start) / intervalMs) + 1);
    if (due > n) schedule(due - n, record, start + n * intervalMs, intervalMs);
    n = due;
    await tick();
  }
  for (let waited = 0; (outstanding > 0 || sent < scheduled) && waited < 10_000; waited += 5)
    await new Promise((r) => setTimeout(r, 5));
}

await new Promise<void>((resolve, reject) => {
  socket.once('connect', resolve);
  socket.once('error', reject);
});
socket.on('data', onData);
socket.on('error', (err) => {
  process.stderr.write(`grpc-frames-client: ${err.message}\n`);
  process.exit(1);
});
socket.write(
  Buffer.concat([
    PREFACE,
    settings([
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, CONNECTION_WINDOW],
    ]),
    windowUpdate(0, CONNECTION_WINDOW - 65_535),
  ]),
);
await runPhases(paced, rate, seconds, warmSeconds, () => ({ sent, errors, errorsByStatus, serviceUs, scheduledUs }));
socket.destroy();
