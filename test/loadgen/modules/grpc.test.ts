// k6/net/grpc against real @grpc/grpc-js servers: protos from files (with an import), or from
// server reflection (v1alpha, after the v1 attempt is refused); unary calls with metadata,
// trailers, errors and enums; the three kinds of streams; health checks; gRPC metrics.
import * as net from 'node:net';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMON_PROTO, GREETER_PROTO, type GreeterServer, startGreeter } from './grpc-server.js';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

const tmp = scriptDir();
tmp.write('greeter.proto', GREETER_PROTO);
tmp.write('protos/common/common.proto', COMMON_PROTO);
tmp.write('protos/greeter.proto', GREETER_PROTO);
tmp.write('common/common.proto', COMMON_PROTO);

let plain: GreeterServer;
let reflecting: GreeterServer;
beforeAll(async () => {
  plain = await startGreeter(tmp.dir, false);
  reflecting = await startGreeter(tmp.dir, true);
});
afterAll(async () => {
  await plain?.stop();
  await reflecting?.stop();
});

const CALLS = `
  const res = client.invoke('demo.Greeter/SayHello', { name: 'ann', mood: 'GRUMPY' }, { metadata: { 'x-user': 'u1' }, tags: { flow: 'hello' } });
  check(res, {
    'status OK': (r) => r.status === grpc.StatusOK,
    'message in proto3 JSON': (r) => r.message.message === 'hello ann' && r.message.mood === 'HAPPY' && r.message.unsetCount === 0,
    'trailers': (r) => r.trailers['x-served-by'][0] === 'greeter',
  });
  const bad = client.invoke('/demo.Greeter/SayHello', { name: '' });
  check(bad, { 'error status': (r) => r.status === grpc.StatusInvalidArgument && r.message === null && r.error.message === 'name is required' });
  let missing = '';
  try { client.invoke('demo.Greeter/Nope', {}); } catch (e) { missing = String(e); }
  check(missing, { 'unknown method named': (m) => m.includes('"/demo.Greeter/Nope" not found') });
  check(client.healthCheck(), { 'health SERVING': (r) => r.message.status === grpc.HealthCheckServing });

  const numbers = [];
  const list = new grpc.Stream(client, 'demo.Greeter/ListNumbers');
  list.on('data', (n) => numbers.push(n.value));
  list.on('end', () => check(numbers, { 'server stream': (xs) => xs.join() === '3,4,5,6' }));
  list.write({ from: 3, to: 6 });
  list.end();

  const sum = new grpc.Stream(client, 'demo.Greeter/Sum');
  sum.on('data', (t) => check(t, { 'client stream': (x) => x.sum === '60' && x.count === 3 }));
  for (const v of [10, 20, 30]) sum.write({ value: v });
  sum.end();

  const replies = [];
  const chat = new grpc.Stream(client, 'demo.Greeter/Chat');
  chat.on('data', (m) => replies.push(m.message));
  chat.on('end', () => {
    check(replies, { 'bidi stream': (r) => r.join() === 're: a,re: b' });
    client.close();
  });
  chat.write({ name: 'a' });
  chat.write({ name: 'b' });
  chat.end();
`;

describe('k6/net/grpc', () => {
  it('calls and streams with protos loaded from files', async () => {
    const script = tmp.write(
      'grpc-load.js',
      `import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { vus: 2, iterations: 4, summaryTrendStats: ['count', 'avg'] };
const client = new grpc.Client();
client.load(['protos'], 'greeter.proto');
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true, timeout: '5s' });
  ${CALLS}
}
`,
    );
    const r = await run({ script, env: { ADDR: plain.address } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(9);
    expect(checks(r)['bidi stream']!.passes).toBe(4);
    expect(plain.lastMetadata['x-user']).toBe('u1');
    const m = r.summary!.metrics;
    // 2 SayHello and a health check per iteration; 3 streams with 1 + 3 + 2 messages sent, 4 + 1 + 2 received.
    expect(m.grpc_req_duration!.values.count).toBe(12);
    expect(m.grpc_streams!.values.count).toBe(12);
    expect(m.grpc_streams_msgs_sent!.values.count).toBe(24);
    expect(m.grpc_streams_msgs_received!.values.count).toBe(28);
  });

  it('answers to k6/experimental/grpc, the name k6 gave it before streams moved to k6/net/grpc', async () => {
    const script = tmp.write(
      'grpc-experimental.js',
      `import grpc from 'k6/experimental/grpc';
import { Client, Stream } from 'k6/experimental/grpc';
import { check } from 'k6';
export const options = { iterations: 1 };
const client = new Client();
client.load(['protos'], 'greeter.proto');
export default function () {
  check(Stream, { 'named exports': (s) => s === grpc.Stream && Client === grpc.Client });
  client.connect(__ENV.ADDR, { plaintext: true });
  ${CALLS}
}
`,
    );
    const r = await run({ script, env: { ADDR: plain.address } });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(10);
  });

  it('discovers the services by server reflection', async () => {
    const script = tmp.write(
      'grpc-reflect.js',
      `import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { iterations: 1 };
const client = new grpc.Client();
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true, reflect: true });
  ${CALLS}
}
`,
    );
    const r = await run({ script, env: { ADDR: reflecting.address } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(9);
  });

  it('fails the iteration with a clear error when the server is not there or the call precedes connect', async () => {
    const script = tmp.write(
      'grpc-bad.js',
      `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load([], 'greeter.proto');
export const options = { iterations: 1 };
export default function () {
  if (__ENV.MODE === 'noconnect') client.invoke('demo.Greeter/SayHello', {});
  client.connect('127.0.0.1:1', { plaintext: true, timeout: '300ms' });
}
`,
    );
    const noConnect = await run({ script, env: { MODE: 'noconnect' } });
    expect(noConnect.stderr).toContain('no gRPC connection, you must call connect first');
    const refused = await run({ script, env: { MODE: 'refused' } });
    expect(refused.stderr).toContain('failed to connect to 127.0.0.1:1');
  });

  it('fails connect() at the first refused attempt, as k6 does, instead of retrying until the 60s timeout', async () => {
    const script = tmp.write(
      'grpc-refused.js',
      `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
export const options = { iterations: 2 };
export default function () { client.connect(__ENV.ADDR, { plaintext: true, reflect: true }); }
`,
    );
    // A port that was just listened on and closed: nothing accepts there.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await run({ script, env: { ADDR: `127.0.0.1:${port}` } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`failed to connect to 127.0.0.1:${port}`);
    expect(r.summary!.metrics.iterations?.values.count).toBe(2);
  });

  it('interrupts a connect() still waiting at the end of the duration', async () => {
    // A TCP server that accepts and never answers the HTTP/2 preface: the channel stays connecting.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const script = tmp.write(
      'grpc-silent.js',
      `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '300ms', gracefulStop: '0s' } } };
export default function () { client.connect(__ENV.ADDR, { plaintext: true }); }
`,
    );
    try {
      const r = await run({ script, env: { ADDR: `127.0.0.1:${(silent.address() as net.AddressInfo).port}` } });
      expect(r.exitCode).toBe(0);
      expect(r.stderr).not.toMatch(/level=error/);
    } finally {
      silent.close();
    }
  });

  it('cancels a call in flight when the VU is interrupted at the end of the duration', async () => {
    const script = tmp.write(
      'grpc-hang.js',
      `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load([], 'greeter.proto');
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '300ms', gracefulStop: '0s' } } };
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true });
  client.invoke('demo.Greeter/SayHello', { name: 'hang' }, { timeout: '10m' });
}
`,
    );
    const r = await run({ script, env: { ADDR: plain.address } });
    expect(r.exitCode).toBe(0);
    // Interrupted, not timed out: no sample and no error for the cancelled call.
    expect(r.summary!.metrics.grpc_req_duration).toBeUndefined();
    expect(r.stderr).not.toMatch(/level=error/);
  });

  it('refuses unknown connect params', async () => {
    const script = tmp.write(
      'grpc-param.js',
      `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
export const options = { iterations: 1 };
export default function () { client.connect(__ENV.ADDR, { plaintext: true, reflekt: true }); }
`,
    );
    const r = await run({ script, env: { ADDR: plain.address } });
    expect(r.stderr).toContain("unknown connect param 'reflekt'");
  });

  it('loads a protoset and calls asynchronously', async () => {
    // A protoset as protoc --descriptor_set_out writes it: FileDescriptorSet { repeated file = 1 }.
    const def = protoLoader.loadSync('greeter.proto', { includeDirs: [tmp.dir] });
    const files = new Map<string, Buffer>();
    for (const t of ['demo.HelloRequest', 'demo.common.Number'])
      for (const b of (def[t] as protoLoader.MessageTypeDefinition<object, object>).fileDescriptorProtos)
        files.set(b.toString('latin1'), b);
    const w = protobuf.Writer.create();
    for (const b of files.values()) w.uint32(10).bytes(b);
    tmp.write('greeter.protoset', Buffer.from(w.finish()));
    const script = tmp.write(
      'grpc-protoset.js',
      `import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
client.loadProtoset('greeter.protoset');
export const options = { iterations: 1 };
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true });
  client.asyncInvoke('demo.Greeter/SayHello', { name: 'async' }).then((r) => {
    check(r, { 'asyncInvoke resolves with the response': (x) => x.status === grpc.StatusOK && x.message.message === 'hello async' });
    client.close();
  });
}
`,
    );
    const r = await run({ script, env: { ADDR: plain.address } });
    expect(r.exitCode).toBe(0);
    expect(checks(r)['asyncInvoke resolves with the response']).toEqual({ passes: 1, fails: 0 });
  });
});
