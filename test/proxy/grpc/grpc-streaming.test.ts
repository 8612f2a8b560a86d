// gRPC through two sidecars (client → outbound proxy → inbound proxy → @grpc/grpc-js server), all
// on h2c: unary with metadata both ways, server/client/bidi streams whose messages outgrow the
// HTTP/2 flow-control windows, cancellation and deadlines reaching the server, an HTTP/1.1 client
// answered, and Istio's grpc_response_status on both hops.
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type RunningProxy } from '../helpers.js';
import { TelemetryReceiver } from '../telemetry/helpers.js';
import {
  echoClient,
  sidecarBootstrap,
  startEchoServer,
  unary,
  waitFor,
  type EchoClient,
  type EchoServer,
} from './fixtures.js';

let echo: EchoServer;
let receiver: TelemetryReceiver;
let outbound: RunningProxy;
let inbound: RunningProxy;
let client: EchoClient;

beforeAll(async () => {
  echo = await startEchoServer();
  receiver = new TelemetryReceiver();
  await receiver.start();
  inbound = await startTestProxy(sidecarBootstrap('payment', 'INBOUND', echo.port, receiver.port));
  outbound = await startTestProxy(sidecarBootstrap('checkout', 'OUTBOUND', inbound.port, receiver.port));
  client = echoClient(outbound.port);
});

afterAll(async () => {
  client?.close();
  await outbound?.close();
  await inbound?.close();
  echo?.close();
  await receiver?.stop();
});

async function prometheus(p: RunningProxy): Promise<string> {
  const admin = p.server.adminAddress()!;
  return (await fetch(`http://127.0.0.1:${admin.port}/stats/prometheus`)).text();
}

describe('gRPC through two sidecars', () => {
  it('unary: message, initial metadata and trailing metadata arrive; the status is OK', async () => {
    const r = await unary(client, 'two-hops', { 'x-client': 'c2' });
    expect(r.error).toBeNull();
    expect(r.response?.toString()).toBe('echo:two-hops:c2');
    expect(r.headers?.get('x-initial')).toEqual(['h1']);
  });

  it('a status with trailing metadata crosses both hops intact', async () => {
    const r = await unary(client, 'status:9');
    expect(r.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.error?.details).toBe('status 9');
    expect(r.error?.metadata.get('x-trailer')).toEqual(['t1']);
  });

  it('server streaming: 24 messages of 256 KiB (6 MiB, far past the 64 KiB windows) in order', async () => {
    const call = client.download(Buffer.from('24:262144'));
    const seen: number[] = [];
    let trailers: grpc.Metadata | null = null;
    call.on('data', (m: Buffer) => {
      expect(m.length).toBe(262_144);
      expect(m[0]).toBe(m[m.length - 1]);
      seen.push(m[0]!);
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
    });
    await new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(seen).toEqual(Array.from({ length: 24 }, (_, i) => i));
    await waitFor('trailers', () => trailers ?? undefined);
    expect(trailers!.get('x-sent')).toEqual(['24']);
  });

  it('client streaming: 40 messages of 128 KiB counted by the server', async () => {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const call = client.upload(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
      let i = 0;
      const writeMore = (): void => {
        while (i < 40) {
          i++;
          if (!call.write(Buffer.alloc(131_072, i))) {
            call.once('drain', writeMore);
            return;
          }
        }
        call.end();
      };
      writeMore();
    });
    expect(reply.toString()).toBe(`40:${40 * 131_072}`);
  });

  it('bidi streaming: each of 12 messages of 200 KB is answered in order', async () => {
    const call = client.chat();
    const replies: Buffer[] = [];
    call.on('data', (m: Buffer) => replies.push(m));
    const done = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (let i = 0; i < 12; i++) {
      call.write(Buffer.alloc(200_000, 65 + i));
      // Ping-pong: the next message leaves once this one's answer came back through both proxies.
      await waitFor(`reply ${i}`, () => (replies.length > i ? true : undefined));
    }
    call.end();
    await done;
    expect(replies.map((r) => [r.length, r.subarray(0, 3).toString(), r[r.length - 1]])).toEqual(
      Array.from({ length: 12 }, (_, i) => [200_003, 're:', 65 + i]),
    );
  });

  it('cancellation: the client cancels a never-ending stream and the server sees it cancelled', async () => {
    const call = client.download(Buffer.from('-1:0'));
    const err = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    await new Promise((r) => call.once('metadata', r));
    call.cancel();
    expect((await err).code).toBe(grpc.status.CANCELLED);
    await waitFor('the server to see the cancellation', () =>
      echo.events.includes('cancelled:download') ? true : undefined,
    );
  });

  it('a client deadline resets the call through both hops: the server sees it cancelled', async () => {
    const before = echo.events.filter((e) => e === 'cancelled:echo').length;
    const r = await unary(client, 'hang', {}, { deadline: Date.now() + 300 });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor('the server to see the deadline', () =>
      echo.events.filter((e) => e === 'cancelled:echo').length > before ? true : undefined,
    );
  });

  it('an HTTP/1.1 client posting application/grpc is answered, its statuses in the head where they can be', async () => {
    // HTTP/1.1 has no trailers here (Envoy drops them without enable_trailers): the message
    // arrives and the exchange completes; a trailers-only status or a local reply is in the head.
    const post = (text: string, route = '') =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const msg = Buffer.from(text);
        const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
        const req = http.request(
          {
            host: '127.0.0.1',
            port: outbound.port,
            path: route === '' ? '/test.Echo/Echo' : route,
            method: 'POST',
            headers: { 'content-type': 'application/grpc', te: 'trailers' },
          },
          (r) => {
            const chunks: Buffer[] = [];
            r.on('data', (d: Buffer) => chunks.push(d));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
          },
        );
        req.on('error', reject);
        req.end(frame);
      });
    const ok = await post('h1-ok');
    expect(ok.status).toBe(200);
    expect(ok.body.subarray(5).toString()).toBe('echo:h1-ok:');
    const failed = await post('status:3');
    expect(failed.status).toBe(200);
    expect(failed.headers['grpc-status']).toBe('3');
    expect(failed.body.length).toBe(0);
  });
});

describe('the call is observable', () => {
  it("Istio's grpc_response_status is filled on both reporters", async () => {
    const src = await waitFor('source metrics', async () => {
      const t = await prometheus(outbound);
      return /grpc_response_status="9"/.test(t) ? t : undefined;
    });
    expect(src).toMatch(
      /istio_requests_total\{reporter="source",[^}]*request_protocol="grpc",response_code="200",grpc_response_status="0"[^}]*\} [1-9]/,
    );
    expect(src).toMatch(/istio_requests_total\{reporter="source",[^}]*grpc_response_status="9"[^}]*\} 1/);
    const dst = await prometheus(inbound);
    expect(dst).toMatch(/istio_requests_total\{reporter="destination",[^}]*grpc_response_status="9"[^}]*\} 1/);
  });
});
