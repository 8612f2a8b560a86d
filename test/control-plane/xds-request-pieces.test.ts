// ADS requests that reach the control plane a few bytes at a time: the HTTP/2 codec and the
// gRPC framing keep an incomplete frame or message across reads, on two connections whose reads
// interleave. The sidecars are node:http2 clients behind a relay that writes what they send in
// 7-byte pieces, one per timer turn; their subscriptions are long enough (~1.5 KB a request) for
// one request to span a couple of hundred reads.
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import type { Resp } from './ads-client.js';
import { tempDir, waitFor, webApiMesh, type TempDir } from './helpers.js';

const ALL = 'outbound|8080||default/api';
/** Names the mesh does not have: they make each request ~1.5 KB, over 200 of the relay's pieces. */
const PADDING = Array.from({ length: 40 }, (_, i) => `outbound|8080|absent-subset-${i}|default/api`);

const meshText = (weightV1: number): string => webApiMesh('pieces', weightV1, 1);

let dir: TempDir;
let cp: ControlPlane;
let relay: net.Server;
const sockets = new Set<net.Socket>();

/** Forwards each client connection to the control plane, what the client sends in 7-byte writes. */
function startRelay(target: number): Promise<number> {
  relay = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    let queue = Buffer.alloc(0);
    let writing = false;
    const pump = (): void => {
      if (queue.length === 0 || upstream.destroyed) {
        writing = false;
        return;
      }
      writing = true;
      upstream.write(queue.subarray(0, 7));
      queue = queue.subarray(7);
      // A turn between pieces, so the control plane reads them one by one.
      setTimeout(pump, 1);
    };
    client.on('data', (chunk: Buffer) => {
      queue = Buffer.concat([queue, chunk]);
      if (!writing) pump();
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  return new Promise((resolve) =>
    relay.listen(0, '127.0.0.1', () => resolve((relay.address() as net.AddressInfo).port)),
  );
}

beforeAll(async () => {
  dir = tempDir();
  dir.write('mesh.yaml', meshText(1));
  cp = await startControlPlane({ meshPath: dir.file('mesh.yaml'), port: 0, debounceMs: 20, log: () => undefined });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => relay?.close(r));
  await cp.close();
  dir.remove();
});

function adsStream(session: http2.ClientHttp2Session, node: string) {
  const stream = session.request({
    ':method': 'POST',
    ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const got: Resp[] = [];
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      got.push(
        decodeMessage(
          'envoy.service.discovery.v3.DiscoveryResponse',
          pending.subarray(5, 5 + length),
        ) as unknown as Resp,
      );
      pending = pending.subarray(5 + length);
    }
  });
  const send = (m: Record<string, JsonValue>): void => {
    const body = encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    stream.write(frame);
  };
  send({ node: { id: node }, type_url: TYPE_URL.endpoints, resource_names: [ALL, ...PADDING] });
  return { stream, got, send };
}

describe('ADS requests read in pieces', () => {
  it('read requests that arrive a few bytes at a time on two connections at once, and push to both', async () => {
    const port = await startRelay(cp.port);
    const sessions = ['web-1', 'web-2'].map(() => http2.connect(`http://127.0.0.1:${port}`));
    try {
      const streams = ['web-1', 'web-2'].map((node, i) => adsStream(sessions[i]!, node));
      const first = await Promise.all(streams.map((s) => waitFor(() => s.got[0], 'the first EDS response', 20_000)));
      for (const r of first) {
        expect(r.type_url).toBe(TYPE_URL.endpoints);
        expect(r.resources.map((c) => c.cluster_name)).toEqual([ALL]);
      }
      for (const [i, s] of streams.entries())
        s.send({
          type_url: TYPE_URL.endpoints,
          resource_names: [ALL, ...PADDING],
          version_info: first[i]!.version_info,
          response_nonce: first[i]!.nonce,
        });
      dir.write('mesh.yaml', meshText(5));
      const pushed = await Promise.all(
        streams.map((s) => waitFor(() => s.got[1], 'the EDS push after the edit', 20_000)),
      );
      for (const r of pushed) {
        const cla = r.resources[0] as { endpoints: Array<{ lb_endpoints: Array<{ load_balancing_weight: number }> }> };
        expect(cla.endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.load_balancing_weight))).toEqual([5, 1]);
      }
      // Both streams are still open: nothing they sent was misread as a framing error.
      expect(streams.every((s) => !s.stream.closed)).toBe(true);
    } finally {
      for (const s of sessions) s.destroy();
    }
  });
});
