// The SDK's ReadableSpan view of one transport record, built on the export thread. The OTLP
// encoder reads the record itself; the span's fields are decoded only when another consumer
// (the Zipkin or gRPC exporter) asks for them, and its context (all the batch processor
// reads) comes from the record's fixed-offset ids without decoding the rest.
import { SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext, type SpanKind } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { decodeWireSpan, WIRE_FIELD_SEPARATOR, type WireSpan } from './wire-span.js';

export const SCOPE = { name: 'meshscope', version: '0.1.0' } as const;
const NO_EVENTS: TimedEvent[] = [];
/** Where the trace state field starts in a record (after the 32 + 1 + 16 + 1 id characters). */
const TRACE_STATE_AT = 50;

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

export class FinishedSpan implements ReadableSpan {
  /** The span's transport record (see wire-span.ts), without its terminator. */
  readonly record: string;
  readonly resource: Resource;
  readonly links = [];
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  #context: SpanContext | null = null;
  #decoded: WireSpan | null = null;

  constructor(record: string, resource: Resource) {
    this.record = record;
    this.resource = resource;
  }

  spanContext(): SpanContext {
    if (this.#context === null) {
      const r = this.record;
      const ctx: SpanContext = { traceId: r.slice(0, 32), spanId: r.slice(33, 49), traceFlags: TraceFlags.SAMPLED, isRemote: false };
      const end = r.indexOf(WIRE_FIELD_SEPARATOR, TRACE_STATE_AT);
      if (end > TRACE_STATE_AT) ctx.traceState = new TraceState(r.slice(TRACE_STATE_AT, end));
      this.#context = ctx;
    }
    return this.#context;
  }

  #wire(): WireSpan {
    return (this.#decoded ??= decodeWireSpan(this.record));
  }

  get name(): string {
    return this.#wire().name;
  }

  get kind(): SpanKind {
    return this.#wire().kind;
  }

  get parentSpanContext(): SpanContext | undefined {
    const w = this.#wire();
    return w.parentSpanId === '' ? undefined : { traceId: w.traceId, spanId: w.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: w.parentIsRemote };
  }

  get startTime(): HrTime {
    return hrTime(this.#wire().startMs);
  }

  get endTime(): HrTime {
    return hrTime(this.#wire().endMs);
  }

  get duration(): HrTime {
    const w = this.#wire();
    return hrTime(Math.max(0, w.endMs - w.startMs));
  }

  get status(): { code: SpanStatusCode } {
    return { code: this.#wire().error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET };
  }

  get attributes(): Attributes {
    return this.#wire().attributes;
  }
}
