// The SDK's ReadableSpan view of a span decoded on the export thread, for the exporters that
// take span objects (gRPC, Zipkin); OTLP/HTTP sends the request thread's bytes as they are.
import {
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type SpanContext,
  type SpanKind,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { SCOPE, type DecodedSpan } from './otlp-span.js';

const NO_EVENTS: TimedEvent[] = [];

export class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly attributes: Attributes;
  readonly status: { code: SpanStatusCode };
  readonly parentSpanContext: SpanContext | undefined;
  readonly resource: Resource;
  readonly links = [];
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly instrumentationScope = SCOPE;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;

  constructor(span: DecodedSpan, resource: Resource) {
    this.name = span.name;
    this.kind = span.kind;
    this.startTime = span.startTime;
    this.endTime = span.endTime;
    this.attributes = span.attributes;
    this.status = { code: span.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET };
    this.parentSpanContext =
      span.parentSpanId === ''
        ? undefined
        : {
            traceId: span.traceId,
            spanId: span.parentSpanId,
            traceFlags: TraceFlags.SAMPLED,
            isRemote: span.parentIsRemote,
          };
    this.resource = resource;
    const context: SpanContext = {
      traceId: span.traceId,
      spanId: span.spanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: false,
    };
    if (span.traceState !== '') context.traceState = new TraceState(span.traceState);
    this.#context = context;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  get duration(): HrTime {
    const s = this.startTime;
    const e = this.endTime;
    const nanos = Math.max(0, (e[0] - s[0]) * 1e9 + (e[1] - s[1]));
    return [Math.floor(nanos / 1e9), nanos % 1e9];
  }
}
