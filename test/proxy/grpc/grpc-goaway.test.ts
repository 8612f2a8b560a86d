// A gRPC server that drains its connections (grpc-js at max_connection_age: GOAWAY, then a second
// GOAWAY naming the last stream it took) refuses the streams that crossed it, unprocessed. Behind a
// sidecar whose route retries `refused-stream` (Istio's default retry_on has it), every call is
// answered OK: the refused streams are retried on the pool's next connection (the cluster's
// max_retries breaker lifted, as Istio does).
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap, startTestProxy, staticCluster, type RunningProxy } from '../helpers.js';
import { ECHO_SERVICE, echoClient, H2_UPSTREAM, unary, type EchoClient } from './fixtures.js';

let server: grpc.Server;
let proxy: RunningProxy;
let client: EchoClient;

beforeAll(async () => {
  // Each connection lives 150 ms, then drains (its calls in flight may finish within the grace).
  server = new grpc.Server({ 'grpc.max_connection_age_ms': 150, 'grpc.max_connection_age_grace_ms': 10_000 });
  server.addService(ECHO_SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      setTimeout(() => cb(null, call.request), 2),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e === null ? resolve(p) : reject(e),
    ),
  );
  proxy = await startTestProxy(
    bootstrap({
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/', grpc: {} },
              route: { cluster: 'grpc', timeout: '0s', retry_policy: { retry_on: 'refused-stream', num_retries: 3 } },
            },
          ],
        },
      ],
      // Istio lifts the max_retries breaker (Envoy's default: 3 retries at once) on every cluster.
      clusters: [
        staticCluster({
          name: 'grpc',
          ports: [port],
          extra: { ...H2_UPSTREAM, circuit_breakers: { thresholds: [{ max_retries: 1000 }] } },
        }),
      ],
      hcm: { codec_type: 'AUTO' },
    }),
  );
  client = echoClient(proxy.port);
});

afterAll(async () => {
  client?.close();
  await proxy?.close();
  server?.forceShutdown();
});

async function counter(name: string): Promise<number> {
  const snap = await proxy.server.stats();
  return snap.counters.find((c) => c.name === name)?.value ?? 0;
}

describe('gRPC upstream connections drained with GOAWAY', () => {
  it('streams the server refused are retried: every call is OK', async () => {
    const failed: string[] = [];
    // Batches of calls until the upstream has drained a few connections with streams refused.
    for (let batch = 0; batch < 400; batch++) {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, `b${batch}-${i}`)));
      for (const r of results) if (r.error !== null) failed.push(`${r.error.code} ${r.error.details}`);
      if ((await counter('cluster.grpc.upstream_rq_retry')) >= 3 && batch >= 10) break;
    }
    expect(failed).toEqual([]);
    expect(await counter('cluster.grpc.upstream_cx_total')).toBeGreaterThan(1);
    expect(await counter('cluster.grpc.upstream_rq_retry')).toBeGreaterThanOrEqual(3);
  });
});
