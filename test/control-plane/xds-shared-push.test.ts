// After a mesh edit the control plane builds one push per (snapshot, version the client held,
// subscription) and hands it to every stream in that place. Real @grpc/grpc-js ADS streams check
// that each still gets exactly the changes within its own subscription (RDS and EDS pushes carry
// only what changed), and that a stream with nothing changed in its names gets nothing.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { AdsClient, type Resp } from './ads-client.js';
import { tempDir, waitFor, type TempDir } from './helpers.js';

const ALL = 'outbound|8080||default/api';
const V1 = 'outbound|8080|v1|default/api';

const meshText = (weightV1: number, weightV2: number): string => `
name: shared
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: web-1
        endpoints: { http: 127.0.0.1:19001 }
        sidecar: { inbound: { http: 19101 }, outbound_port: 19102 }
      - name: web-2
        endpoints: { http: 127.0.0.1:19004 }
        sidecar: { inbound: { http: 19104 }, outbound_port: 19105 }
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - { name: api-v1, labels: { version: v1 }, endpoints: { http: 127.0.0.1:19002 }, weight: ${weightV1} }
      - { name: api-v2, labels: { version: v2 }, endpoints: { http: 127.0.0.1:19003 }, weight: ${weightV2} }
`;

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
});
