// The tracing component's public face: trace-context propagation (W3C, B3 single, B3 multi),
// the sampling decision, and id generation. Tracer extensions build on these.
export {
  extractTraceContext,
  injectTraceContext,
  parseTraceState,
  removeTraceHeaders,
  TRACE_HEADER_NAMES,
  TraceFormat,
  type IncomingTraceContext,
  type OutgoingTraceContext,
  type TraceHeaders,
} from './trace-context.js';
export {
  decideSampling,
  RANDOM_SAMPLING_RUNTIME_KEY,
  SamplingReason,
  type SamplingPolicy,
  type SamplingRuntime,
} from './sampling.js';
export { newSpanId, newTraceId } from './ids.js';
