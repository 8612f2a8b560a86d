// The SDK's ReadableSpan view of one transport record, built on the export thread. The OTLP
// encoder copies the record's UTF-8 bytes itself; the span's fields are decoded only when
// another consumer (the Zipkin or gRPC exporter) asks for them. The batch processor reads
// only the context's flags, which need no decoding either.
import { SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext, type SpanKind } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { decodeWireSpan, type WireRecord, type WireSpan } from './wire-span.js';

export const SCOPE = { name: 'meshscope', version: '0.1.0' } as const;
const NO_EVENTS: TimedEvent[] = [];
const utf8 = new TextDecoder();


/** A finished span's own context: always sampled, ids read from the record on first use. */
class RecordSpanContext implements SpanContext {
  readonly traceFlags = TraceFlags.SAMPLED;
  readonly isRemote = false;
  readonly #span: FinishedSpan;

  constructor(span: FinishedSpan) {
    this.#span = span;
  }

  get traceId(): string {
    return this.#span.wire().traceId;
  }

  get spanId(): string {
    return this.#span.wire().spanId;
  }

  get traceState(): TraceState | undefined {
    const s = this.#span.wire().traceState;
    return s === '' ? undefined : new TraceState(s);
  }
}

export class FinishedSpan implements ReadableSpan, WireRecord {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly resource: Resource;
  readonly links = [];
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context = new RecordSpanContext(this);
  #decoded: WireSpan | null = null;

  /** The record is bytes [start, end) of a batch of UTF-8 encoded transport records. */
  constructor(bytes: Uint8Array, start: number, end: number, resource: Resource) {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    this.resource = resource;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  /** The record decoded (once, on first use). */
  wire(): WireSpan {
    return (this.#decoded ??= decodeWireSpan(utf8.decode(this.bytes.subarray(this.start, this.end))));
  }

  get name(): string {
    return this.wire().name;
  }

  get kind(): SpanKind {
    return this.wire().kind;
  }

  get parentSpanContext(): SpanContext | undefined {
    const w = this.wire();
    return w.parentSpanId === '' ? undefined : { traceId: w.traceId, spanId: w.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: w.parentIsRemote };
  }

  get startTime(): HrTime {
    return this.wire().startTime;
  }

  get endTime(): HrTime {
    return this.wire().endTime;
  }

  get duration(): HrTime {
    const { startTime: s, endTime: e } = this.wire();
    const nanos = Math.max(0, (e[0] - s[0]) * 1e9 + (e[1] - s[1]));
    return [Math.floor(nanos / 1e9), nanos % 1e9];
  }

  get status(): { code: SpanStatusCode } {
    return { code: this.wire().error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET };
  }

  get attributes(): Attributes {
    return this.wire().attributes;
  }
}
