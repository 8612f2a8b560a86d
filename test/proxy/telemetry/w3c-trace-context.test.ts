// The W3C Trace Context test suite (w3c/trace-context, test/test.py) is Python and cannot be
// installed here, so its cases are ported: the harness sends a request to a service behind an
// inbound sidecar; the service makes the harness's callbacks through its outbound sidecar,
// forwarding the trace headers it received as an instrumented app would; the checks run on
// the headers the harness receives in its callbacks (STRICT_LEVEL 2 cases included).
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrap,
  closeServer,
  freePort,
  listen,
  listener,
  otelTracing,
  request,
  startSidecar,
  staticCluster,
  TelemetryReceiver,
  type Sidecar,
} from './helpers.js';

const TRACE = '12345678901234567890123456789012';
const TP = `00-${TRACE}-1234567890123456-01`;
const TP00 = `00-${TRACE}-1234567890123456-00`;

let receiver: TelemetryReceiver;
let sidecars: Sidecar[] = [];
const callbacks = new Map<string, IncomingHttpHeaders[]>();
const harness = createServer((req, res) => {
  const id = req.url!.slice('/callback/'.length);
  const list = callbacks.get(id) ?? [];
  list.push(req.headers);
  callbacks.set(id, list);
  res.end();
});
// The service under test: for each requested callback it calls the harness through its
// outbound sidecar, passing traceparent/tracestate along.
const service = createServer((req, res) => {
  const url = new URL(req.url!, 'http://service');
  const id = url.searchParams.get('id')!;
  const count = Number(url.searchParams.get('count') ?? '1');
  const forward: Record<string, string> = {};
  for (const name of ['traceparent', 'tracestate']) {
    const v = req.headers[name];
    if (typeof v === 'string') forward[name] = v;
  }
  let pending = count;
  for (let i = 0; i < count; i++) {
    const r = httpRequest(
      { host: '127.0.0.1', port: egressPort, path: `/callback/${id}`, headers: forward, agent: false },
      (cb) => {
        cb.resume();
        cb.on('end', () => {
          if (--pending === 0) res.end('done');
        });
      },
    );
    r.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    r.end();
  }
});
let ingressPort = 0;
let egressPort = 0;
let seq = 0;

beforeAll(async () => {
  receiver = new TelemetryReceiver();
  await receiver.start();
  const harnessPort = await listen(harness);
  const servicePort = await listen(service);
  [ingressPort, egressPort] = await Promise.all([freePort(), freePort()]);
  const [adminIn, adminOut] = await Promise.all([freePort(), freePort()]);
  const collector = staticCluster('collector', receiver.port);
  sidecars = await Promise.all([
    startSidecar(
      'w3c-ingress',
      bootstrap(
        'svc-1',
        'svc',
        adminIn,
        [
          listener({
            name: 'ingress',
            port: ingressPort,
            direction: 'INBOUND',
            cluster: 'service',
            tracing: otelTracing(),
          }),
        ],
        [staticCluster('service', servicePort), collector],
      ),
    ),
    startSidecar(
      'w3c-egress',
      bootstrap(
        'svc-1',
        'svc',
        adminOut,
        [
          listener({
            name: 'egress',
            port: egressPort,
            direction: 'OUTBOUND',
            cluster: 'harness',
            tracing: otelTracing(),
          }),
        ],
        [staticCluster('harness', harnessPort), collector],
      ),
    ),
  ]);
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await closeServer(service);
  await closeServer(harness);
  await receiver.stop();
});

/** Sends the harness request; returns the callback headers (one per requested callback). */
async function run(headers: Array<[string, string]>, count = 1): Promise<IncomingHttpHeaders[]> {
  const id = String(++seq);
  const res = await request(ingressPort, `/test?id=${id}&count=${count}`, headers);
  expect(res.status).toBe(200);
  const got = callbacks.get(id) ?? [];
  expect(got).toHaveLength(count);
  return got;
}

interface Traceparent {
  traceId: string;
  parentId: string;
  flags: string;
}

function traceparentOf(h: IncomingHttpHeaders): Traceparent {
  const v = h['traceparent'];
  expect(typeof v).toBe('string');
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(v as string);
  expect(m).not.toBeNull();
  return { traceId: m![2]!, parentId: m![3]!, flags: m![4]! };
}

function tracestateOf(h: IncomingHttpHeaders): Map<string, string> {
  const out = new Map<string, string>();
  const v = h['tracestate'];
  if (typeof v !== 'string') return out;
  for (const member of v.split(',')) {
    const t = member.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    out.set(t.slice(0, eq), t.slice(eq + 1));
  }
  return out;
}

async function single(
  headers: Array<[string, string]>,
): Promise<{ tp: Traceparent; ts: Map<string, string>; raw: string | string[] | undefined }> {
  const [h] = await run(headers);
  return { tp: traceparentOf(h!), ts: tracestateOf(h!), raw: h!['tracestate'] };
}

describe('W3C trace-context test suite, ported (TraceContextTest)', () => {
  it('both traceparent and tracestate missing: a valid traceparent', async () => {
    await single([]);
  });

  it('traceparent included, tracestate missing: same trace id, new parent id', async () => {
    const { tp } = await single([['traceparent', TP]]);
    expect(tp.traceId).toBe(TRACE);
    expect(tp.parentId).not.toBe('1234567890123456');
  });

  it('duplicated traceparent: new trace id', async () => {
    const { tp } = await single([
      ['traceparent', TP.replace('012-', '011-')],
      ['traceparent', TP],
    ]);
    expect(tp.traceId).not.toBe('12345678901234567890123456789011');
    expect(tp.traceId).not.toBe(TRACE);
  });

  it('wrong header names are ignored; any casing of the right name is accepted', async () => {
    for (const name of ['trace-parent', 'trace.parent'])
      expect((await single([[name, TP]])).tp.traceId).not.toBe(TRACE);
    for (const name of ['TraceParent', 'TrAcEpArEnT', 'TRACEPARENT'])
      expect((await single([[name, TP]])).tp.traceId).toBe(TRACE);
  });

  it.each([
    ['version 00 with trailing characters', `${TP}.`],
    ['version 00 with more fields', `${TP}-what-the-future-will-be-like`],
    ['future version, bad separator', `cc-${TRACE}-1234567890123456-01.what-the-future-will-be-like`],
    ['version ff', `ff-${TRACE}-1234567890123456-01`],
    ['version illegal .0', `.0-${TRACE}-1234567890123456-01`],
    ['version illegal 0.', `0.-${TRACE}-1234567890123456-01`],
    ['version too long', `000-${TRACE}-1234567890123456-01`],
    ['version too long (4)', `0000-${TRACE}-1234567890123456-01`],
    ['version too short', `0-${TRACE}-1234567890123456-01`],
    ['trace id illegal (first)', '00-.2345678901234567890123456789012-1234567890123456-01'],
    ['trace id illegal (last)', '00-1234567890123456789012345678901.-1234567890123456-01'],
    ['parent id all zero', `00-${TRACE}-0000000000000000-01`],
    ['parent id illegal (first)', `00-${TRACE}-.234567890123456-01`],
    ['parent id illegal (last)', `00-${TRACE}-123456789012345.-01`],
    ['parent id too long', `00-${TRACE}-12345678901234567-01`],
    ['parent id too short', `00-${TRACE}-123456789012345-01`],
    ['flags illegal (first)', `00-${TRACE}-1234567890123456-.0`],
    ['flags illegal (last)', `00-${TRACE}-1234567890123456-0.`],
    ['flags too long', `00-${TRACE}-1234567890123456-001`],
    ['flags too short', `00-${TRACE}-1234567890123456-1`],
  ])('invalid traceparent (%s): new trace id', async (_name, value) => {
    expect((await single([['traceparent', value]])).tp.traceId).not.toBe(TRACE);
  });

  it('trace id all zero / too long / too short: a new, valid trace id', async () => {
    expect(
      (await single([['traceparent', '00-00000000000000000000000000000000-1234567890123456-01']])).tp.traceId,
    ).not.toBe('0'.repeat(32));
    const long = (await single([['traceparent', '00-123456789012345678901234567890123-1234567890123456-01']])).tp
      .traceId;
    expect([TRACE, '23456789012345678901234567890123']).not.toContain(long);
    expect(
      (await single([['traceparent', '00-1234567890123456789012345678901-1234567890123456-01']])).tp.traceId,
    ).not.toBe('1234567890123456789012345678901');
  });

  it('future version 0xcc is accepted, with or without more fields', async () => {
    expect((await single([['traceparent', `cc-${TRACE}-1234567890123456-01`]])).tp.traceId).toBe(TRACE);
    expect(
      (await single([['traceparent', `cc-${TRACE}-1234567890123456-01-what-the-future-will-be-like`]])).tp.traceId,
    ).toBe(TRACE);
  });

  it('OWS around traceparent is accepted', async () => {
    for (const v of [` ${TP}`, `\t${TP}`, `${TP} `, `${TP}\t`, `\t ${TP} \t`])
      expect((await single([['traceparent', v]])).tp.traceId).toBe(TRACE);
  });

  it('tracestate without traceparent is discarded', async () => {
    const one = (await single([['tracestate', 'foo=1']])).ts;
    const two = (await single([['tracestate', 'foo=1,bar=2']])).ts;
    expect(one.size).toBe(two.size);
  });

  it('tracestate with traceparent is inherited; wrong names ignored; any casing accepted', async () => {
    const { tp, ts } = await single([
      ['traceparent', TP00],
      ['tracestate', 'foo=1,bar=2'],
    ]);
    expect(tp.traceId).toBe(TRACE);
    expect(ts.get('foo')).toBe('1');
    expect(ts.get('bar')).toBe('2');
    for (const name of ['trace-state', 'trace.state'])
      expect(
        (
          await single([
            ['traceparent', TP00],
            [name, 'foo=1'],
          ])
        ).ts.has('foo'),
      ).toBe(false);
    for (const name of ['TraceState', 'TrAcEsTaTe', 'TRACESTATE'])
      expect(
        (
          await single([
            ['traceparent', TP00],
            [name, 'foo=1'],
          ])
        ).ts.get('foo'),
      ).toBe('1');
  });

  it('empty tracestate headers are dropped, others kept', async () => {
    const empty = await single([
      ['traceparent', TP00],
      ['tracestate', ''],
    ]);
    expect(empty.tp.traceId).toBe(TRACE);
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', 'foo=1'],
          ['tracestate', ''],
        ])
      ).ts.get('foo'),
    ).toBe('1');
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', ''],
          ['tracestate', 'foo=1'],
        ])
      ).ts.get('foo'),
    ).toBe('1');
  });

  it('multiple tracestate headers are combined in order', async () => {
    const [h] = await run([
      ['traceparent', TP00],
      ['tracestate', 'foo=1,bar=2'],
      ['tracestate', 'rojo=1,congo=2'],
      ['tracestate', 'baz=3'],
    ]);
    const s = String(h!['tracestate']);
    const order = ['foo=1', 'bar=2', 'rojo=1', 'congo=2', 'baz=3'].map((m) => s.indexOf(m));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
  });

  // Level 2 (https://www.w3.org/TR/trace-context-2/#key): a repeated key may be passed on or
  // dropped (the first member stays here), and `@` is a key character after the first.
  it.each([
    ['duplicated keys', [['tracestate', 'foo=1,foo=1']], '1'],
    ['duplicated keys, different values', [['tracestate', 'foo=1,foo=2']], '1'],
    [
      'duplicated keys across headers',
      [
        ['tracestate', 'foo=1'],
        ['tracestate', 'foo=2'],
      ],
      '1',
    ],
  ] as Array<[string, Array<[string, string]>, string]>)(
    '%s: one member of the key is kept',
    async (_name, ts, value) => {
      const got = await single([['traceparent', TP00], ...ts]);
      expect(got.tp.traceId).toBe(TRACE);
      expect(got.ts.get('foo')).toBe(value);
      expect(String(got.raw).match(/foo=/g)).toHaveLength(1);
    },
  );

  it.each([
    ['vendor format foo@', [['tracestate', 'foo@=1,bar=2']], 'foo@'],
    ['vendor format foo@@bar', [['tracestate', 'foo@@bar=1,bar=2']], 'foo@@bar'],
    ['vendor format foo@bar@baz', [['tracestate', 'foo@bar@baz=1,bar=2']], 'foo@bar@baz'],
    ['tenant 242 characters', [['tracestate', `${'t'.repeat(242)}@v=1,bar=2`]], `${'t'.repeat(242)}@v`],
    ['vendor 15 characters', [['tracestate', `t@${'v'.repeat(15)}=1,bar=2`]], `t@${'v'.repeat(15)}`],
  ] as Array<[string, Array<[string, string]>, string]>)('Level 2 key (%s) is kept', async (_name, ts, key) => {
    const got = await single([['traceparent', TP00], ...ts]);
    expect(got.ts.get(key)).toBe('1');
    expect(got.ts.get('bar')).toBe('2');
  });

  it.each([
    ['key with space', [['tracestate', 'foo =1']], 'foo '],
    ['upper-case key', [['tracestate', 'FOO=1']], 'FOO'],
    ['dot in key', [['tracestate', 'foo.bar=1']], 'foo.bar'],
    ['bad vendor format @foo', [['tracestate', '@foo=1,bar=2']], 'bar'],
    [
      'key 257 characters',
      [
        ['tracestate', 'foo=1'],
        ['tracestate', `${'z'.repeat(257)}=1`],
      ],
      'foo',
    ],
    [
      'multi-tenant key 257 characters',
      [
        ['tracestate', 'foo=1'],
        ['tracestate', `${'t'.repeat(242)}@${'v'.repeat(14)}=1`],
      ],
      'foo',
    ],
    ['value with =', [['tracestate', 'foo=bar=baz']], 'foo'],
    ['empty value', [['tracestate', 'foo=,bar=3']], 'bar'],
  ] as Array<[string, Array<[string, string]>, string]>)(
    'invalid tracestate (%s) is discarded',
    async (_name, ts, key) => {
      const got = await single([['traceparent', TP00], ...ts]);
      expect(got.tp.traceId).toBe(TRACE);
      expect(got.ts.has(key)).toBe(false);
    },
  );

  it('tracestate: all allowed characters, OWS, 32 members and length limits', async () => {
    const key = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
    let value = '';
    for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) value += String.fromCharCode(c);
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', `${key}=${value}`],
        ])
      ).ts.get(key),
    ).toBe(value);
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', `${key}@a-z0-9_-*/=${value}`],
        ])
      ).ts.get(`${key}@a-z0-9_-*/`),
    ).toBe(value);
    for (const v of ['foo=1 \t , \t bar=2, \t baz=3', 'foo=1\t \t,\t \tbar=2,\t \tbaz=3']) {
      const ts = (
        await single([
          ['traceparent', TP00],
          ['tracestate', v],
        ])
      ).ts;
      expect([ts.get('foo'), ts.get('bar'), ts.get('baz')]).toEqual(['1', '2', '3']);
    }
    for (const v of [' foo=1', '\tfoo=1', 'foo=1 ', 'foo=1\t', '\t foo=1 \t'])
      expect(
        (
          await single([
            ['traceparent', TP00],
            ['tracestate', v],
          ])
        ).ts.get('foo'),
      ).toBe('1');
    const bars = Array.from(
      { length: 33 },
      (_, i) => `bar${String(i + 1).padStart(2, '0')}=${String(i + 1).padStart(2, '0')}`,
    );
    const chunks = (n: number): Array<[string, string]> =>
      [0, 10, 20, 30].map((s) => ['tracestate', bars.slice(s, Math.min(s + 10, n)).join(',')] as [string, string]);
    const ok = (await single([['traceparent', TP00], ...chunks(32)])).ts;
    expect(ok.get('bar01')).toBe('01');
    expect(ok.size).toBe(32);
    expect((await single([['traceparent', TP00], ...chunks(33)])).ts.has('bar01')).toBe(false);
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', 'foo=1'],
          ['tracestate', `${'z'.repeat(256)}=1`],
        ])
      ).ts.get('foo'),
    ).toBe('1');
    expect(
      (
        await single([
          ['traceparent', TP00],
          ['tracestate', 'foo=1'],
          ['tracestate', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`],
        ])
      ).ts.get('foo'),
    ).toBe('1');
  });
});

describe('W3C trace-context test suite, ported (AdvancedTest)', () => {
  it('multiple callbacks with a valid traceparent share the trace, each with its own parent', async () => {
    const got = (await run([['traceparent', TP]], 3)).map(traceparentOf);
    expect(new Set(got.map((t) => t.traceId))).toEqual(new Set([TRACE]));
    expect(new Set(got.map((t) => t.parentId)).size).toBe(3);
  });

  it('multiple callbacks without traceparent get distinct parent ids', async () => {
    const got = (await run([], 3)).map(traceparentOf);
    expect(new Set(got.map((t) => t.parentId)).size).toBe(3);
  });

  it('multiple callbacks with an illegal traceparent get new trace ids', async () => {
    const got = (await run([['traceparent', '00-00000000000000000000000000000000-1234567890123456-01']], 3)).map(
      traceparentOf,
    );
    expect(got.some((t) => t.traceId === '0'.repeat(32))).toBe(false);
    expect(new Set(got.map((t) => t.parentId)).size).toBe(3);
  });
});
