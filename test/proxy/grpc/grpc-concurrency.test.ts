// Many gRPC calls at once through two sidecars (client → outbound proxy → inbound proxy →
// @grpc/grpc-js server, all h2c), as the bench's open-loop client makes them: every call is
// answered OK with its own message, messages larger than the flow-control windows included, over
// one upstream connection per hop (no connection churn, no stream reset on either sidecar).
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type RunningProxy } from '../helpers.js';
import { TelemetryReceiver } from '../telemetry/helpers.js';
import { echoClient, sidecarBootstrap, startEchoServer, unary, type EchoClient, type EchoServer } from './fixtures.js';

let echo: EchoServer;
let receiver: TelemetryReceiver;
let outbound: RunningProxy;
let inbound: RunningProxy;
const clients: EchoClient[] = [];

beforeAll(async () => {
  echo = await startEchoServer();
  receiver = new TelemetryReceiver();
  await receiver.start();
  inbound = await startTestProxy(sidecar('payment', 'INBOUND', echo.port));
  outbound = await startTestProxy(sidecar('checkout', 'OUTBOUND', inbound.port));
});

afterAll(async () => {
  for (const c of clients) c.close();
  await outbound?.close();
  await inbound?.close();
  echo?.close();
  await receiver?.stop();
});

/**
 * The fixtures' sidecar with a 100 ms connect timeout on its upstream cluster: the first burst of
 * streams keeps the proxy's loop busy for longer than that while its first upstream connection
 * is being made, which is the moment a timeout must not take for a failed connect.
 */
function sidecar(name: string, direction: 'INBOUND' | 'OUTBOUND', upstreamPort: number): Record<string, unknown> {
  const boot = sidecarBootstrap(name, direction, upstreamPort, receiver.port);
  const clusters = (boot['static_resources'] as { clusters: Array<Record<string, unknown>> }).clusters;
  clusters.find((c) => c['name'] === 'next')!['connect_timeout'] = '0.1s';
  return boot;
}

function client(): EchoClient {
  const c = echoClient(outbound.port);
  clients.push(c);
  return c;
}

async function counters(p: RunningProxy): Promise<Map<string, number>> {
  const snap = await p.server.stats();
  return new Map(snap.counters.map((c) => [c.name, c.value]));
}

/** Each failed call's status and details, to show which hop refused what. */
function failures(results: Array<{ error: grpc.ServiceError | null }>): string[] {
  return results.flatMap((r) => (r.error === null ? [] : [`${r.error.code} ${r.error.details}`]));
}

describe('gRPC calls at once through two sidecars', () => {
  it('600 unary calls started together on one channel are all OK, each with its own answer', async () => {
    const c = client();
    const results = await Promise.all(
      Array.from({ length: 600 }, (_, i) => unary(c, `call-${i}`, { 'x-client': 'c' })),
    );
    expect(failures(results)).toEqual([]);
    expect(results.map((r) => r.response?.toString())).toEqual(results.map((_, i) => `echo:call-${i}:c`));
  });

  it('calls on four channels at once, half of them with 200 KB messages (past the 64 KiB windows), all OK', async () => {
    const channels = [client(), client(), client(), client()];
    const texts = Array.from({ length: 80 }, (_, i) =>
      i % 2 === 0 ? `big-${i}-${'x'.repeat(200_000)}` : `small-${i}`,
    );
    const results = await Promise.all(texts.map((t, i) => unary(channels[i % 4]!, t)));
    expect(failures(results)).toEqual([]);
    results.forEach((r, i) => expect(r.response?.toString()).toBe(`echo:${texts[i]}:`));
  });

  it('each hop carried them on one upstream connection, without a stream reset', async () => {
    for (const p of [outbound, inbound]) {
      const c = await counters(p);
      expect(c.get('cluster.next.upstream_cx_total')).toBe(1);
      expect(c.get('cluster.next.upstream_rq_pending_overflow') ?? 0).toBe(0);
      expect(c.get('http2.rx_reset') ?? 0).toBe(0);
      expect(c.get('http2.tx_reset') ?? 0).toBe(0);
    }
  });
});
