// OTLP/JSON trace bodies for the tests that post to the collector by hand (floods, restarts,
// hostile timestamps): one resource with service.name, one scope, `spans` spans of one trace,
// numbered from 1. Ids are hex as OTLP/JSON writes them; times are decimal nanosecond strings.

export interface OtlpJsonKeyValue {
  key: string;
  value: { stringValue: string } | { intValue: number };
}

export const stringAttr = (key: string, value: string): OtlpJsonKeyValue => ({ key, value: { stringValue: value } });
export const intAttr = (key: string, value: number): OtlpJsonKeyValue => ({ key, value: { intValue: value } });

export interface OtlpTraceBody {
  service: string;
  /** The trace id, as a number (written as 32 hex digits). */
  trace: number;
  /** How many spans; span j (from 0) gets span id j + 1. */
  spans: number;
  /** The span name: 'op' unless given. */
  name?: (j: number) => string;
  /** The span kind: 2 (SERVER) unless given. */
  kind?: number;
  /** Each span's start: the time the body is made unless given. */
  startNs?: (j: number) => bigint;
  /** Each span's duration: 1 µs unless given. */
  durationNs?: bigint;
  /** Each span's attributes: none unless given. */
  attributes?: (j: number) => OtlpJsonKeyValue[];
}

export function otlpTraceBody(o: OtlpTraceBody): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const duration = o.durationNs ?? 1000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [stringAttr('service.name', o.service)] },
        scopeSpans: [
          {
            spans: Array.from({ length: o.spans }, (_, j) => {
              const start = o.startNs?.(j) ?? now;
              return {
                traceId: o.trace.toString(16).padStart(32, '0'),
                spanId: (j + 1).toString(16).padStart(16, '0'),
                name: o.name?.(j) ?? 'op',
                kind: o.kind ?? 2,
                startTimeUnixNano: String(start),
                endTimeUnixNano: String(start + duration),
                // Left out of the JSON when undefined, as the hand-built bodies left it out.
                attributes: o.attributes?.(j),
              };
            }),
          },
        ],
      },
    ],
  });
}
