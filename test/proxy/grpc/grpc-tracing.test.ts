// A gRPC call traced through two sidecars (the built CLI, as deployed): both hops' spans reach
// an OTLP receiver in one trace with OpenTelemetry's RPC attributes (rpc.system, rpc.service,
// rpc.method, rpc.grpc.status_code) and its gRPC error rules for CLIENT and SERVER spans.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAttribute } from '../../../collector/receivers/otlp/model.js';
import { freePort, startSidecar, TelemetryReceiver, type Sidecar } from '../telemetry/helpers.js';
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
const sidecars: Sidecar[] = [];
let client: EchoClient;

beforeAll(async () => {
  echo = await startEchoServer();
  receiver = new TelemetryReceiver();
  await receiver.start();
  const [inPort, inAdmin, outPort, outAdmin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  sidecars.push(
    await startSidecar(
      'payment',
      sidecarBootstrap('payment', 'INBOUND', echo.port, receiver.port, { listener: inPort, admin: inAdmin }),
    ),
  );
  sidecars.push(
    await startSidecar(
      'checkout',
      sidecarBootstrap('checkout', 'OUTBOUND', inPort, receiver.port, { listener: outPort, admin: outAdmin }),
    ),
  );
  client = echoClient(outPort);
}, 60_000);

afterAll(async () => {
  client?.close();
  for (const s of sidecars) await s.stop();
  echo?.close();
  await receiver?.stop();
});

describe('gRPC spans', () => {
  it('both sidecars emit spans with rpc.system, rpc.service, rpc.method and rpc.grpc.status_code', async () => {
    const ok = await unary(client, 'traced');
    expect(ok.error).toBeNull();
    const failed = await unary(client, 'status:5');
    expect(failed.error?.code).toBe(5);
    const spans = await waitFor('spans of both sidecars for the NOT_FOUND call', () => {
      const found = receiver.spans.filter((s) => findAttribute(s.attributes, 'rpc.grpc.status_code') === '5');
      return found.length >= 2 ? found : undefined;
    });
    for (const s of spans) {
      expect(findAttribute(s.attributes, 'rpc.system')).toBe('grpc');
      expect(findAttribute(s.attributes, 'rpc.service')).toBe('test.Echo');
      expect(findAttribute(s.attributes, 'rpc.method')).toBe('Echo');
    }
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    // OpenTelemetry's RPC rules: NOT_FOUND fails the caller's CLIENT span (the egress sidecar's)
    // but is not the server's fault (the ingress sidecar's SERVER span).
    const clientSpan = spans.find((s) => s.kind === 3);
    const serverSpan = spans.find((s) => s.kind === 2);
    expect(clientSpan?.statusCode).toBe(2);
    expect(serverSpan?.statusCode).not.toBe(2);
    const okSpans = receiver.spans.filter((s) => findAttribute(s.attributes, 'rpc.grpc.status_code') === '0');
    expect(okSpans.length).toBeGreaterThanOrEqual(2);
    expect(okSpans.every((s) => s.statusCode !== 2)).toBe(true);
  });
});
