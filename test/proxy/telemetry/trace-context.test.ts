import {
  ROOT_CONTEXT,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  TraceFlags,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { describe, expect, it } from 'vitest';
import {
  decideSampling,
  extractTraceContext,
  injectTraceContext,
  parseTraceState,
  SamplingReason,
  TraceFormat,
  type TraceHeaders,
} from '../../../proxy/tracing/index.js';
import { HeaderMap } from '../../../proxy/core/http/headers.js';

/** A real (tiny) multi-valued header list, lower-case names as the codec delivers them. */
class Headers implements TraceHeaders {
  readonly entries: Array<[string, string]>;
  constructor(entries: Array<[string, string]> = []) {
    this.entries = entries.map(([k, v]) => [k.toLowerCase(), v]);
  }
  get(name: string) {
    return this.entries.find(([k]) => k === name)?.[1];
  }
  getAll(name: string) {
    return this.entries.filter(([k]) => k === name).map(([, v]) => v);
  }
  set(name: string, value: string) {
    this.remove(name);
    this.entries.push([name, value]);
  }
  remove(name: string) {
    const before = this.entries.length;
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]![0] === name) this.entries.splice(i, 1);
    return before - this.entries.length;
  }
  carrier(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of this.entries) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return out;
  }
}

function otelExtract(propagator: TextMapPropagator, headers: Headers) {
  const sc = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, headers.carrier(), defaultTextMapGetter));
  return sc === undefined
    ? null
    : {
        traceId: sc.traceId.toLowerCase(),
        spanId: sc.spanId.toLowerCase(),
        sampled: (sc.traceFlags & TraceFlags.SAMPLED) !== 0,
      };
}

const T32 = '80f198ee56343ba864fe8b2a57d3eff7';
const T16 = '64fe8b2a57d3eff7';
const S16 = 'e457b5a2e4d86bd1';
const P16 = '05e3ac9a4f6e3b90';

const b3 = new B3Propagator();

describe('B3 single header, as @opentelemetry/propagator-b3 extracts it', () => {
  it.each([
    ['sampled 1', `${T32}-${S16}-1`],
    ['sampled 0', `${T32}-${S16}-0`],
    ['debug d', `${T32}-${S16}-d`],
    ['with parent', `${T32}-${S16}-1-${P16}`],
    ['missing parent, sampled', `${T32}-${S16}-1`],
    ['64-bit trace id', `${T16}-${S16}-1`],
    ['upper case', `${T32.toUpperCase()}-${S16.toUpperCase()}-1`],
    ['trace id 15 digits', `${T16.slice(1)}-${S16}-1`],
    ['span id 15 digits', `${T32}-${S16.slice(1)}-1`],
    ['all-zero trace id', `${'0'.repeat(32)}-${S16}-1`],
    ['all-zero span id', `${T32}-${'0'.repeat(16)}-1`],
    ['garbage', 'not-a-b3-header'],
  ])('%s', (_name, value) => {
    const h = new Headers([['b3', value]]);
    const ours = extractTraceContext(h);
    const theirs = otelExtract(b3, h);
    if (theirs === null) {
      expect(ours.traceId).toBe('');
    } else {
      expect(ours.format).toBe(TraceFormat.B3Single);
      expect({ traceId: ours.traceId, spanId: ours.parentSpanId, sampled: ours.sampled }).toEqual(theirs);
    }
  });

  it('is stricter than the OpenTelemetry regex on over-long ids (never forwards a truncated id)', () => {
    // OpenTelemetry's unanchored regex takes the last 16 of 17 or 31 digits and ignores an
    // unknown sampling state; all of these are invalid B3, so they start a new trace here.
    for (const value of [`a${T16}-${S16}-1`, `${T32.slice(1)}-${S16}-1`, `${T32}-${S16}a-1`, `${T32}-${S16}-x`]) {
      expect(extractTraceContext(new Headers([['b3', value]])).traceId).toBe('');
    }
    expect(otelExtract(b3, new Headers([['b3', `${T32.slice(1)}-${S16}-1`]]))?.traceId).toBe(
      `0000000000000000${T32.slice(16)}`,
    );
  });

  it('honours a bare sampling decision and defers when the state is absent', () => {
    expect(extractTraceContext(new Headers([['b3', '0']]))).toMatchObject({
      traceId: '',
      sampled: false,
      format: TraceFormat.B3Single,
    });
    expect(extractTraceContext(new Headers([['b3', 'd']]))).toMatchObject({ sampled: true, debug: true });
    // Envoy (not OpenTelemetry) semantics: no sampling state means "no decision yet".
    expect(extractTraceContext(new Headers([['b3', `${T32}-${S16}`]]))).toMatchObject({ traceId: T32, sampled: null });
  });
});

describe('B3 multi headers, as @opentelemetry/propagator-b3 extracts them', () => {
  const multi = (trace: string, span: string, extra: Array<[string, string]> = []) =>
    new Headers([['x-b3-traceid', trace], ['x-b3-spanid', span], ...extra]);
  it.each([
    ['sampled 1', multi(T32, S16, [['x-b3-sampled', '1']])],
    ['sampled 0', multi(T32, S16, [['x-b3-sampled', '0']])],
    ['sampled true', multi(T32, S16, [['x-b3-sampled', 'true']])],
    ['debug flag', multi(T32, S16, [['x-b3-flags', '1']])],
    [
      'debug flag and sampled 0',
      multi(T32, S16, [
        ['x-b3-flags', '1'],
        ['x-b3-sampled', '0'],
      ]),
    ],
    [
      'with parent',
      multi(T32, S16, [
        ['x-b3-sampled', '1'],
        ['x-b3-parentspanid', P16],
      ]),
    ],
    ['64-bit trace id', multi(T16, S16, [['x-b3-sampled', '1']])],
    ['upper case', multi(T32.toUpperCase(), S16.toUpperCase(), [['x-b3-sampled', '1']])],
    ['trace id 15 digits', multi(T16.slice(1), S16, [['x-b3-sampled', '1']])],
    ['trace id 33 digits', multi(`a${T32}`, S16, [['x-b3-sampled', '1']])],
    ['span id 15 digits', multi(T32, S16.slice(1), [['x-b3-sampled', '1']])],
    ['span id 17 digits', multi(T32, `${S16}a`, [['x-b3-sampled', '1']])],
    ['all-zero trace id', multi('0'.repeat(32), S16, [['x-b3-sampled', '1']])],
    ['invalid sampled value', multi(T32, S16, [['x-b3-sampled', 'yes']])],
    [
      'missing span id',
      new Headers([
        ['x-b3-traceid', T32],
        ['x-b3-sampled', '1'],
      ]),
    ],
  ])('%s', (_name, h) => {
    const ours = extractTraceContext(h);
    const theirs = otelExtract(b3, h);
    if (theirs === null) {
      expect(ours.traceId).toBe('');
    } else {
      expect(ours.format).toBe(TraceFormat.B3Multi);
      expect({ traceId: ours.traceId, spanId: ours.parentSpanId, sampled: ours.sampled }).toEqual(theirs);
    }
  });

  it('defers the decision when x-b3-sampled is absent (Envoy) where OpenTelemetry says unsampled', () => {
    expect(extractTraceContext(multi(T32, S16))).toMatchObject({ traceId: T32, sampled: null });
    expect(otelExtract(b3, multi(T32, S16))?.sampled).toBe(false);
  });
});

describe('W3C traceparent/tracestate, as W3CTraceContextPropagator and the W3C test suite expect', () => {
  const w3c = new W3CTraceContextPropagator();
  const TP = '00-12345678901234567890123456789012-1234567890123456-01';
  it.each([
    ['valid', TP],
    ['unsampled', '00-12345678901234567890123456789012-1234567890123456-00'],
    ['future version', 'cc-12345678901234567890123456789012-1234567890123456-01'],
    [
      'future version with more fields',
      'cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like',
    ],
    [
      'future version, bad separator',
      'cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like',
    ],
    ['version 00 with more fields', `${TP}-what-the-future-will-be-like`],
    ['version 00 trailing dot', `${TP}.`],
    ['version ff', 'ff-12345678901234567890123456789012-1234567890123456-01'],
    ['version illegal', '.0-12345678901234567890123456789012-1234567890123456-01'],
    ['version too long', '000-12345678901234567890123456789012-1234567890123456-01'],
    ['version too short', '0-12345678901234567890123456789012-1234567890123456-01'],
    ['trace id all zero', '00-00000000000000000000000000000000-1234567890123456-01'],
    ['trace id illegal', '00-.2345678901234567890123456789012-1234567890123456-01'],
    ['trace id too long', '00-123456789012345678901234567890123-1234567890123456-01'],
    ['trace id too short', '00-1234567890123456789012345678901-1234567890123456-01'],
    ['parent id all zero', '00-12345678901234567890123456789012-0000000000000000-01'],
    ['parent id illegal', '00-12345678901234567890123456789012-123456789012345.-01'],
    ['parent id too long', '00-12345678901234567890123456789012-12345678901234567-01'],
    ['flags illegal', '00-12345678901234567890123456789012-1234567890123456-.0'],
    ['flags too long', '00-12345678901234567890123456789012-1234567890123456-001'],
    ['flags too short', '00-12345678901234567890123456789012-1234567890123456-1'],
    ['upper case', TP.toUpperCase()],
    ['leading space', ` ${TP}`],
    ['trailing tab', `${TP}\t`],
  ])('%s', (_name, value) => {
    const h = new Headers([['traceparent', value]]);
    const ours = extractTraceContext(h);
    const theirs = otelExtract(w3c, h);
    if (theirs === null) expect(ours.traceId).toBe('');
    else expect({ traceId: ours.traceId, spanId: ours.parentSpanId, sampled: ours.sampled }).toEqual(theirs);
  });

  it('OWS on both sides is accepted (W3C test_traceparent_ows_handling)', () => {
    expect(extractTraceContext(new Headers([['traceparent', `\t ${TP} \t`]])).traceId).toBe(
      '12345678901234567890123456789012',
    );
  });

  it('two traceparent headers start a new trace', () => {
    expect(
      extractTraceContext(
        new Headers([
          ['traceparent', TP],
          ['traceparent', TP.replace('12-', '11-')],
        ]),
      ).traceId,
    ).toBe('');
  });

  it.each([
    ['combined in order', [['foo=1,bar=2'], ['rojo=1,congo=2'], ['baz=3']], 'foo=1,bar=2,rojo=1,congo=2,baz=3'],
    ['OWS trimmed', [['foo=1 \t , \t bar=2, \t baz=3']], 'foo=1,bar=2,baz=3'],
    ['empty header ignored', [['foo=1'], ['']], 'foo=1'],
    // Trace Context Level 2: a repeated key keeps one member (the first), `@` is a key character.
    ['duplicated key', [['foo=1,foo=2']], 'foo=1'],
    ['duplicated key across headers', [['foo=1'], ['foo=1']], 'foo=1'],
    ['upper-case key', [['FOO=1']], ''],
    ['dot in key', [['foo.bar=1']], ''],
    ['space in key', [['foo =1']], ''],
    ['trailing @', [['foo@=1,bar=2']], 'foo@=1,bar=2'],
    ['leading @', [['@foo=1,bar=2']], ''],
    ['double @', [['foo@@bar=1,bar=2']], 'foo@@bar=1,bar=2'],
    ['value with =', [['foo=bar=baz']], ''],
    ['empty value', [['foo=,bar=3']], ''],
    ['key 256', [['foo=1'], [`${'z'.repeat(256)}=1`]], `foo=1,${'z'.repeat(256)}=1`],
    ['key 257', [['foo=1'], [`${'z'.repeat(257)}=1`]], ''],
    [
      'tenant 241 vendor 14',
      [['foo=1'], [`${'t'.repeat(241)}@${'v'.repeat(14)}=1`]],
      `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`,
    ],
    ['tenant 242', [['foo=1'], [`${'t'.repeat(242)}@v=1`]], `foo=1,${'t'.repeat(242)}@v=1`],
    ['multi-tenant key 257', [['foo=1'], [`${'t'.repeat(242)}@${'v'.repeat(14)}=1`]], ''],
    ['vendor 15', [['foo=1'], [`t@${'v'.repeat(15)}=1`]], `foo=1,t@${'v'.repeat(15)}=1`],
  ])('tracestate %s', (_name, values, expected) => {
    expect(parseTraceState(values.map((v) => v[0]!))).toBe(expected);
  });

  it('tracestate: 32 members kept, 33 discarded, all allowed characters kept', () => {
    const members = Array.from({ length: 33 }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i + 1}`);
    expect(parseTraceState([members.slice(0, 32).join(',')]).split(',')).toHaveLength(32);
    expect(parseTraceState([members.join(',')])).toBe('');
    const key = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
    let value = '';
    for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) value += String.fromCharCode(c);
    expect(parseTraceState([`${key}=${value}`])).toBe(`${key}=${value}`);
    expect(parseTraceState([`${key}@a-z0-9_-*/=${value}`])).toBe(`${key}@a-z0-9_-*/=${value}`);
  });

  it('tracestate is dropped without a valid traceparent', () => {
    expect(extractTraceContext(new Headers([['tracestate', 'foo=1']])).traceState).toBe('');
  });
});

describe('precedence and injection', () => {
  it('W3C wins over B3 single, which wins over B3 multi; invalid ones fall through', () => {
    const all = new Headers([
      ['x-b3-traceid', 'a'.repeat(32)],
      ['x-b3-spanid', 'b'.repeat(16)],
      ['x-b3-sampled', '1'],
      ['b3', `${'c'.repeat(32)}-${'d'.repeat(16)}-0`],
      ['traceparent', `00-${'e'.repeat(32)}-${'f'.repeat(16)}-01`],
    ]);
    expect(extractTraceContext(all)).toMatchObject({
      traceId: 'e'.repeat(32),
      format: TraceFormat.W3C,
      presentFormats: 7,
    });
    all.set('traceparent', 'garbage');
    expect(extractTraceContext(all)).toMatchObject({
      traceId: 'c'.repeat(32),
      sampled: false,
      format: TraceFormat.B3Single,
    });
    all.set('b3', 'garbage');
    expect(extractTraceContext(all)).toMatchObject({
      traceId: 'a'.repeat(32),
      sampled: true,
      format: TraceFormat.B3Multi,
    });
  });

  it('injects every format as OpenTelemetry would read it back', () => {
    const h = new Headers();
    injectTraceContext(
      h,
      { traceId: T32, spanId: S16, parentSpanId: P16, sampled: true, debug: false, traceState: 'foo=1' },
      TraceFormat.W3C | TraceFormat.B3Multi | TraceFormat.B3Single,
    );
    expect(h.get('traceparent')).toBe(`00-${T32}-${S16}-01`);
    expect(h.get('tracestate')).toBe('foo=1');
    expect(h.get('b3')).toBe(`${T32}-${S16}-1-${P16}`);
    expect(h.get('x-b3-sampled')).toBe('1');
    expect(h.get('x-b3-parentspanid')).toBe(P16);
    for (const p of [
      new W3CTraceContextPropagator(),
      new B3Propagator(),
      new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
    ]) {
      expect(otelExtract(p, h)).toEqual({ traceId: T32, spanId: S16, sampled: true });
    }
    // The same context injected by OpenTelemetry produces the same headers.
    const otel: Record<string, string> = {};
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: T32, spanId: S16, traceFlags: TraceFlags.SAMPLED });
    new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }).inject(ctx, otel, defaultTextMapSetter);
    expect(h.get('x-b3-traceid')).toBe(otel['x-b3-traceid']);
    expect(h.get('x-b3-spanid')).toBe(otel['x-b3-spanid']);
    expect(h.get('x-b3-sampled')).toBe(otel['x-b3-sampled']);
  });

  it('never sends x-b3-sampled: 0 for a sampled request, and debug sends flags only', () => {
    const h = new Headers([
      ['x-b3-sampled', '0'],
      ['x-b3-flags', '1'],
    ]);
    injectTraceContext(
      h,
      { traceId: T32, spanId: S16, parentSpanId: '', sampled: true, debug: false, traceState: '' },
      TraceFormat.B3Multi,
    );
    expect(h.getAll('x-b3-sampled')).toEqual(['1']);
    expect(h.get('x-b3-flags')).toBeUndefined();
    expect(h.get('x-b3-parentspanid')).toBeUndefined();
    injectTraceContext(
      h,
      { traceId: T32, spanId: S16, parentSpanId: '', sampled: true, debug: true, traceState: '' },
      TraceFormat.B3Multi | TraceFormat.B3Single,
    );
    expect(h.get('x-b3-flags')).toBe('1');
    expect(h.get('x-b3-sampled')).toBeUndefined();
    expect(h.get('b3')).toBe(`${T32}-${S16}-d`);
  });

  it("the proxy's header map reads and writes the same headers as a map that only offers lookups", () => {
    // HeaderMap lists its names, which lets the propagators skip their lookups when no
    // propagation header is there; the outcome must be what the lookups give.
    const requests: Array<Array<[string, string]>> = [
      [
        ['user-agent', 'curl/8'],
        ['accept', '*/*'],
        ['x-forwarded-proto', 'http'],
        ['te', 'trailers'],
      ],
      [
        ['b3', '1'],
        ['user-agent', 'curl/8'],
      ],
      [
        ['accept', '*/*'],
        ['tracestate', 'rojo=00f067aa0ba902b7'],
      ],
      [['x-b3-sampled', '0']],
      [
        ['x-b3-flags', '1'],
        ['x-b3-traceid', T32],
        ['x-b3-spanid', S16],
      ],
      [
        ['traceparent', `00-${T32}-${S16}-01`],
        ['x-request-id', 'abc'],
      ],
      [['x-b3-parentspanid', S16]],
    ];
    const contexts = [
      { traceId: T32, spanId: S16, parentSpanId: '', sampled: true, debug: false, traceState: '' },
      { traceId: T32, spanId: S16, parentSpanId: '00f067aa0ba902b7', sampled: false, debug: false, traceState: 'a=1' },
      { traceId: T32, spanId: S16, parentSpanId: '', sampled: true, debug: true, traceState: '' },
    ];
    const lookupsOnly = (m: HeaderMap): TraceHeaders => ({
      get: (n) => m.get(n),
      getAll: (n) => m.getAll(n),
      set: (n, v) => m.set(n, v),
      remove: (n) => m.remove(n),
    });
    const build = (entries: Array<[string, string]>): HeaderMap => {
      const m = new HeaderMap();
      for (const [k, v] of entries) m.add(k, v);
      return m;
    };
    for (const entries of requests) {
      expect(extractTraceContext(build(entries))).toEqual(extractTraceContext(lookupsOnly(build(entries))));
      for (const ctx of contexts) {
        for (let formats = 1; formats <= 7; formats++) {
          const direct = build(entries);
          const looked = build(entries);
          injectTraceContext(direct, ctx, formats);
          injectTraceContext(lookupsOnly(looked), ctx, formats);
          expect([direct.names, direct.values]).toEqual([looked.names, looked.values]);
          // A retry injects again into the same map.
          injectTraceContext(direct, ctx, formats);
          injectTraceContext(lookupsOnly(looked), ctx, formats);
          expect([direct.names, direct.values]).toEqual([looked.names, looked.values]);
        }
      }
    }
  });
});

describe('sampling decision', () => {
  const policy = (random: number) => ({
    randomSamplingPercent: random,
    clientSamplingPercent: 100,
    overallSamplingPercent: 100,
  });
  it('honours incoming decisions both ways, whatever the random percentage', () => {
    const sampled = new Headers([['traceparent', `00-${T32}-${S16}-01`]]);
    const unsampled = new Headers([['traceparent', `00-${T32}-${S16}-00`]]);
    expect(decideSampling(extractTraceContext(sampled), sampled, policy(0))).toBe(SamplingReason.Inherited);
    expect(decideSampling(extractTraceContext(unsampled), unsampled, policy(100))).toBe(SamplingReason.NotTraceable);
  });

  it('x-envoy-force-trace forces; random sampling and its runtime override decide the rest', () => {
    const forced = new Headers([
      ['x-envoy-force-trace', 'true'],
      ['traceparent', `00-${T32}-${S16}-00`],
    ]);
    expect(decideSampling(extractTraceContext(forced), forced, policy(0))).toBe(SamplingReason.ServiceForced);
    const none = new Headers([['x-request-id', 'ffffffff-ffff-4fff-8fff-ffffffffffff']]);
    const ctx = extractTraceContext(none);
    expect(decideSampling(ctx, none, policy(100))).toBe(SamplingReason.Sampling);
    expect(decideSampling(ctx, none, policy(0))).toBe(SamplingReason.NotTraceable);
    const runtime = (v: number) => ({
      snapshot: () => ({ getDouble: (k: string, d: number) => (k === 'tracing.random_sampling' ? v : d) }),
    });
    // Envoy's runtime value is out of 10000: 10000 = 100%, 0 = never.
    expect(decideSampling(ctx, none, { ...policy(100), runtime: runtime(0) })).toBe(SamplingReason.NotTraceable);
    expect(decideSampling(ctx, none, { ...policy(0), runtime: runtime(10000) })).toBe(SamplingReason.Sampling);
    let n = 0;
    for (let i = 0; i < 4000; i++)
      if (decideSampling(ctx, none, { ...policy(100), runtime: runtime(2500) }) !== SamplingReason.NotTraceable) n++;
    expect(n).toBeGreaterThan(700);
    expect(n).toBeLessThan(1300);
  });

  it('samples about random_sampling percent of undecided requests', () => {
    const h = new Headers();
    const ctx = extractTraceContext(h);
    let n = 0;
    for (let i = 0; i < 10_000; i++) if (decideSampling(ctx, h, policy(25)) !== SamplingReason.NotTraceable) n++;
    expect(n).toBeGreaterThan(2000);
    expect(n).toBeLessThan(3000);
  });
});
