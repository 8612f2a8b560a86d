// The refusal rules both decoders apply to each item (reported through partial success).

import type { LogRecord, Refusals, SpanRecord } from './model.js';

/**
 * DateTime64(9) holds Int64 nanoseconds (up to 2262-04-11): a later time would make ClickHouse
 * refuse the whole batch it sits in, again on every retry, so such items are refused here.
 */
const MAX_NANOS = 2n ** 63n - 1n;

/** Shared by both decoders: the refusal rules for a span. */
export function checkSpan(s: SpanRecord, refusals: Refusals): boolean {
  if (s.startNs > MAX_NANOS || s.endNs > MAX_NANOS || s.events.some((e) => e.timeNs > MAX_NANOS)) {
    refusals.add(`span '${s.name.slice(0, 64)}': timestamps must be before 2262-04-11 (DateTime64(9))`);
    return false;
  }
  if (s.traceId.length !== 32 || s.traceId === '00000000000000000000000000000000') {
    refusals.add(`span '${s.name.slice(0, 64)}': trace_id must be 16 non-zero bytes`);
    return false;
  }
  if (s.spanId.length !== 16 || s.spanId === '0000000000000000') {
    refusals.add(`span '${s.name.slice(0, 64)}' of trace ${s.traceId}: span_id must be 8 non-zero bytes`);
    return false;
  }
  if (s.parentSpanId.length !== 0 && s.parentSpanId.length !== 16) {
    refusals.add(`span ${s.spanId} of trace ${s.traceId}: parent_span_id must be empty or 8 bytes`);
    return false;
  }
  return true;
}

/** Shared by both decoders: the refusal rules for a log record. */
export function checkLog(l: LogRecord, refusals: Refusals): boolean {
  if (l.timeNs > MAX_NANOS || l.observedNs > MAX_NANOS) {
    refusals.add('log record: timestamps must be before 2262-04-11 (DateTime64(9))');
    return false;
  }
  if (l.traceId.length !== 0 && l.traceId.length !== 32) {
    refusals.add('log record: trace_id must be empty or 16 bytes');
    return false;
  }
  if (l.spanId.length !== 0 && l.spanId.length !== 16) {
    refusals.add('log record: span_id must be empty or 8 bytes');
    return false;
  }
  return true;
}
