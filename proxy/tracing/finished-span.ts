// The SDK's ReadableSpan view of a WireSpan, built on the export thread.
import { SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext, type SpanKind } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { WireSpan } from './wire-span.js';

const SCOPE = { name: 'meshscope', version: '0.1.0' } as const;
const NO_EVENTS: TimedEvent[] = [];

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

/** The SDK's view of a WireSpan. */
export class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly #context: SpanContext;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: { code: SpanStatusCode };
  readonly attributes: Attributes;
  readonly links = [];
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly resource: Resource;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(w: WireSpan, resource: Resource) {
    this.name = w.name;
    this.kind = w.kind;
    const ctx: SpanContext = { traceId: w.traceId, spanId: w.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
    if (w.traceState !== '') ctx.traceState = new TraceState(w.traceState);
    this.#context = ctx;
    this.parentSpanContext =
      w.parentSpanId === '' ? undefined : { traceId: w.traceId, spanId: w.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: w.parentIsRemote };
    this.startTime = hrTime(w.startMs);
    this.endTime = hrTime(w.endMs);
    this.duration = hrTime(Math.max(0, w.endMs - w.startMs));
    this.status = { code: w.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET };
    this.attributes = w.attributes;
    this.resource = resource;
  }

  spanContext(): SpanContext {
    return this.#context;
  }
}

