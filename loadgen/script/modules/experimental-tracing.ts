// k6/experimental/tracing: trace-context headers on k6/http requests. instrumentHTTP(options)
// sets this VU's propagation for every request (k6 allows it in the init context only);
// new Client(options) is an http-like object whose requests use its own options while plain
// k6/http keeps the VU's. Propagators as meshscope's --tracing has them: w3c and b3 (k6's
// 'jaeger' is refused by name). currentSpan() is the iteration's span, whose trace id the
// iteration's requests carry (newer k6, with http.enableTracing() and params.tracing).
import { newTraceIds } from '../../tracing.js';
import type { ModuleContext, TracingOptions } from '../context.js';

interface TracingInput {
  propagator?: unknown;
  sampling?: unknown;
}

function tracingOptions(input: TracingInput | undefined, where: string): TracingOptions {
  const propagator = input?.propagator;
  if (propagator !== 'w3c' && propagator !== 'b3')
    throw new Error(`${where}: propagator must be 'w3c' or 'b3', got ${JSON.stringify(propagator)}`);
  const sampling = input?.sampling ?? 1;
  if (typeof sampling !== 'number' || !(sampling >= 0 && sampling <= 1))
    throw new Error(`${where}: sampling must be a number from 0 to 1, got ${JSON.stringify(sampling)}`);
  return { propagator, sampling };
}

type HttpFn = (...args: unknown[]) => unknown;
const METHODS = ['get', 'head', 'options', 'post', 'put', 'patch', 'del', 'request', 'asyncRequest', 'batch'] as const;

export function createTracingModule(ctx: ModuleContext): Record<string, unknown> {
  const http = (): Record<string, HttpFn> => ctx.require('k6/http') as Record<string, HttpFn>;

  const instrumentHTTP = (options: TracingInput): void => {
    if (!ctx.inInit()) throw new Error('instrumentHTTP: only available in the init context');
    ctx.vu.tracing = tracingOptions(options, 'instrumentHTTP');
  };

  class Client {
    #options: TracingOptions;
    constructor(options: TracingInput) {
      this.#options = tracingOptions(options, 'tracing.Client');
    }
    configure(options: TracingInput): void {
      this.#options = tracingOptions(options, 'tracing.Client.configure');
    }
    static {
      for (const name of METHODS) {
        Object.defineProperty(Client.prototype, name, {
          configurable: true,
          writable: true,
          value(this: Client, ...args: unknown[]): unknown {
            const vu = ctx.vu;
            const saved = vu.tracing;
            vu.tracing = this.#options;
            try {
              // k6/http reads the VU's tracing before its first await, so the swap holds for this call.
              return http()[name]!(...args);
            } finally {
              vu.tracing = saved;
            }
          },
        });
      }
    }
  }

  // The iteration's span: made on first use in an iteration, shared by its later calls and by the
  // iteration's requests (their trace id). Attributes and events are kept on the object; with no
  // tracer exporting spans they go nowhere else.
  const currentSpan = (): Record<string, unknown> => {
    const vu = ctx.vu;
    let span = vu.span;
    if (span === null || span.iteration !== vu.iterationInInstance) {
      const ids = newTraceIds();
      const t = vu.tracing ?? ctx.test.tracing;
      span = {
        iteration: vu.iterationInInstance,
        traceId: ids.traceId,
        spanId: ids.spanId,
        sampled: t.sampling >= 1 || Math.random() < t.sampling,
      };
      vu.span = span;
    }
    const attributes: Record<string, unknown> = {};
    const events: Array<{ name: string; attributes?: unknown }> = [];
    return {
      traceId: span.traceId,
      spanId: span.spanId,
      sampled: span.sampled,
      isRecording: () => span.sampled,
      setAttribute: (key: string, value: unknown) => {
        attributes[String(key)] = value;
      },
      addEvent: (name: string, attrs?: unknown) => {
        events.push({ name: String(name), attributes: attrs });
      },
      attributes,
      events,
    };
  };

  const mod: Record<string, unknown> = { instrumentHTTP, Client, currentSpan };
  mod.default = mod;
  return mod;
}
