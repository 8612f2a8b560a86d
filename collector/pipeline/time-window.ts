// Items too old or too far in the future are refused at decode (partial success with a
// reason, as the OTLP specification allows): older than the table TTL they would be dropped at
// the next merge anyway, and every distinct day is a partition, so a request spread over many
// days would make ClickHouse refuse the whole insert ("Too many partitions for single INSERT
// block"). The window is taken from the record's accept time, so a replay refuses the same.

import type { Decoded, LogRecord, SpanRecord } from '../receivers/otlp/model.js';

export interface TimeWindow {
  /** Oldest accepted item age, in days. */
  maxAgeDays: number;
  /** Furthest accepted item time ahead of the clock, in milliseconds. */
  maxFutureMs: number;
}

const NS_PER_MS = 1_000_000n;
const MS_PER_DAY = 86_400_000;

function timeOf(item: SpanRecord | LogRecord): bigint {
  if ('startNs' in item) return item.startNs;
  return item.timeNs !== 0n ? item.timeNs : item.observedNs;
}

/** The accepted item times, in nanoseconds, for a record accepted at `acceptedAt` (ms). */
export function windowBounds(window: TimeWindow, acceptedAt: number): { min: bigint; max: bigint } {
  return {
    min: BigInt(Math.floor(acceptedAt - window.maxAgeDays * MS_PER_DAY)) * NS_PER_MS,
    max: BigInt(Math.floor(acceptedAt + window.maxFutureMs)) * NS_PER_MS,
  };
}

/**
 * The span decoder's window (SpanRowsOptions' time fields) for a record accepted at
 * `acceptedAt` (ms): the accepted start times and the refusal reason outside them.
 */
export function spanWindow(
  window: TimeWindow,
  acceptedAt: number,
): { minNs: bigint; maxNs: bigint; outside(startNs: bigint): string } {
  const { min, max } = windowBounds(window, acceptedAt);
  return { minNs: min, maxNs: max, outside: (t) => windowRefusal('span', t, min, window) };
}

/** Why an item at `t` (ns) is refused: outside [min, max]. */
export function windowRefusal(what: string, t: bigint, min: bigint, window: TimeWindow): string {
  const ms = Number(t / NS_PER_MS);
  const at = Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${t} ns`;
  return t < min
    ? `${what} at ${at} is older than the ${window.maxAgeDays}-day retention window`
    : `${what} at ${at} is more than ${window.maxFutureMs / 60_000} minutes in the future`;
}

export function applyTimeWindow<T extends SpanRecord | LogRecord>(
  decoded: Decoded<T>,
  what: 'span' | 'log record',
  window: TimeWindow,
  acceptedAt: number,
): Decoded<T> {
  const { min, max } = windowBounds(window, acceptedAt);
  const items = decoded.items;
  let i = 0;
  for (; i < items.length; i++) {
    const t = timeOf(items[i]!);
    if (t < min || t > max) break;
  }
  // The common case: every item inside the window, nothing copied.
  if (i === items.length) return decoded;
  const kept: T[] = items.slice(0, i);
  let rejected = decoded.rejected;
  const reasons = decoded.reasons.slice();
  for (; i < items.length; i++) {
    const item = items[i]!;
    const t = timeOf(item);
    if (t >= min && t <= max) {
      kept.push(item);
      continue;
    }
    rejected++;
    if (reasons.length < 5) reasons.push(windowRefusal(what, t, min, window));
  }
  return { items: kept, rejected, reasons };
}
