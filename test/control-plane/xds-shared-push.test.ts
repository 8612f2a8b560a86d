// After a mesh edit the control plane builds one push per (snapshot, version the client held,
// subscription) and hands it to every stream in that place. Real @grpc/grpc-js ADS streams check
// that each still gets exactly the changes within its own subscription (RDS and EDS pushes carry
// only what changed), and that a stream with nothing changed in its names gets nothing; the
// push's DATA frame, built once per stream id, reaches several streams of one connection intact.
import http2 from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import { AdsClient, type Resp } from './ads-client.js';
import { tempDir, waitFor, webApiMesh, type TempDir } from './helpers.js';

const ALL = 'outbound|8080||default/api';
const V1 = 'outbound|8080|v1|default/api';

const meshText = (weightV1: number, weightV2: number): string => webApiMesh('shared', weightV1, weightV2);

let dir: TempDir;
let cp: ControlPlane;
const clients: AdsClient[] = [];

beforeAll(async () => {
  dir = tempDir();
  dir.write('mesh.yaml', meshText(1, 1));
  cp = await startControlPlane({ meshPath: dir.file('mesh.yaml'), port: 0, debounceMs: 20, log: () => undefined });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(async () => {
  await cp.close();
  dir.remove();
});

/** An ADS stream of `node` subscribed to EDS for `names`, after its first response (ACKed). */
async function edsStream(node: string, names: string[]): Promise<AdsClient> {
  const c = new AdsClient(cp.port);
  clients.push(c);
  c.send({ node: { id: node }, type_url: TYPE_URL.endpoints, resource_names: names });
  ack(c, names, await nth(c, 0));
  return c;
}

function nth(c: AdsClient, i: number): Promise<Resp> {
  return waitFor(() => c.of(TYPE_URL.endpoints)[i], `EDS response #${i + 1}`);
}

function ack(c: AdsClient, names: string[], r: Resp): void {
  c.send({
    type_url: TYPE_URL.endpoints,
    resource_names: names,
    version_info: r.version_info,
    response_nonce: r.nonce,
  });
}

/** Each resource's cluster name and its endpoints' weights. */
function weights(r: Resp): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const cla of r.resources) {
    const endpoints = (cla.endpoints as Array<{ lb_endpoints: Array<{ load_balancing_weight: number }> }>) ?? [];
    out[cla.cluster_name as string] = endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.load_balancing_weight));
  }
  return out;
}

describe('shared ADS pushes', () => {
  it('give each stream the changes within its own subscription, and nothing when none of its names changed', async () => {
    const a = await edsStream('web-1', [ALL, V1]);
    const twin = await edsStream('web-1', [ALL, V1]);
    const b = await edsStream('web-2', [V1]);
    expect(weights(a.of(TYPE_URL.endpoints)[0]!)).toEqual({ [ALL]: [1, 1], [V1]: [1] });
    expect(weights(b.of(TYPE_URL.endpoints)[0]!)).toEqual({ [V1]: [1] });

    // api-v2's weight: the 'all' cluster changed, v1 did not.
    dir.write('mesh.yaml', meshText(1, 5));
    const a2 = await nth(a, 1);
    const twin2 = await nth(twin, 1);
    expect(weights(a2)).toEqual({ [ALL]: [1, 5] });
    expect(weights(twin2)).toEqual(weights(a2));
    expect(twin2.version_info).toBe(a2.version_info);
    ack(a, [ALL, V1], a2);
    ack(twin, [ALL, V1], twin2);

    // api-v1's weight: both changed.
    dir.write('mesh.yaml', meshText(7, 5));
    const a3 = await nth(a, 2);
    expect(weights(a3)).toEqual({ [ALL]: [7, 5], [V1]: [7] });
    const b2 = await nth(b, 1);
    expect(weights(b2)).toEqual({ [V1]: [7] });
    expect(b2.version_info).toBe(a3.version_info);
    // b was sent nothing for the first edit: its second response is the second edit's.
    expect(b.of(TYPE_URL.endpoints)).toHaveLength(2);
  });

  it('reach several ADS streams of one HTTP/2 connection, each framed for its own stream', async () => {
    // node:http2 rather than grpc-js: the streams share one connection, so they are streams 1, 3 and 5.
    const session = http2.connect(`http://127.0.0.1:${cp.port}`);
    try {
      const streams = ['web-1', 'web-2', 'web-1'].map((node) => {
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
            const message = pending.subarray(5, 5 + length);
            got.push(decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', message) as unknown as Resp);
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
        send({ node: { id: node }, type_url: TYPE_URL.endpoints, resource_names: [ALL] });
        return { stream, got, send };
      });
      const first = await Promise.all(streams.map((s) => waitFor(() => s.got[0], 'the first EDS response')));
      expect(streams.map((s) => s.stream.id)).toEqual([1, 3, 5]);
      for (const [i, s] of streams.entries())
        s.send({
          type_url: TYPE_URL.endpoints,
          resource_names: [ALL],
          version_info: first[i]!.version_info,
          response_nonce: first[i]!.nonce,
        });

      dir.write('mesh.yaml', meshText(3, 4));
      const pushed = await Promise.all(streams.map((s) => waitFor(() => s.got[1], 'the EDS push after the edit')));
      for (const r of pushed) {
        expect(r.type_url).toBe(TYPE_URL.endpoints);
        expect(weights(r)).toEqual({ [ALL]: [3, 4] });
        expect(r.version_info).not.toBe(first[0]!.version_info);
      }
      // One push for all three: the same version and nonce, whole on every stream.
      expect(new Set(pushed.map((r) => r.version_info)).size).toBe(1);
      expect(new Set(pushed.map((r) => r.nonce)).size).toBe(1);
    } finally {
      session.destroy();
    }
  });
});
