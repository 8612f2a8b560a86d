// After an edit every sidecar ACKs its push with the request it sent before, now carrying the
// push's version and nonce; the server recognises those bytes without decoding them
// (AdsSession.ackIfExpected). Real @grpc/grpc-js ADS streams check that such an ACK, one with
// its names in another order, a NACK and a changed subscription each do what the decoded request
// says: the ack or nack event with the version the client sent, and a push only for new names.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMesh, SnapshotCache, startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { AdsSession } from '../../control-plane/xds/ads.js';
import type { DiscoveryResponse } from '../../control-plane/xds/protocol.js';
import { DiscoveryRequestReader } from '../../control-plane/xds/request-decode.js';
import { encodeMessage, type JsonMap } from '../../proxy/xds/index.js';
import { AdsClient, type Resp } from './ads-client.js';
import { tempDir, waitFor, webApiMesh, type TempDir } from './helpers.js';

const ALL = 'outbound|8080||default/api';
const V1 = 'outbound|8080|v1|default/api';
const V2 = 'outbound|8080|v2|default/api';

let dir: TempDir;
let cp: ControlPlane;
const clients: AdsClient[] = [];
const events: string[] = [];

beforeAll(async () => {
  dir = tempDir();
  dir.write('mesh.yaml', webApiMesh('exact-ack', 1, 1));
  cp = await startControlPlane({
    meshPath: dir.file('mesh.yaml'),
    port: 0,
    debounceMs: 20,
    log: () => undefined,
    onAck: (node, typeUrl, version) => events.push(`ack ${node} ${typeUrl === TYPE_URL.endpoints} ${version}`),
    onNack: (node, typeUrl, version, message) =>
      events.push(`nack ${node} ${typeUrl === TYPE_URL.endpoints} ${version} ${message}`),
  });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  events.length = 0;
});

afterAll(async () => {
  await cp.close();
  dir.remove();
});

function nth(c: AdsClient, i: number): Promise<Resp> {
  return waitFor(() => c.of(TYPE_URL.endpoints)[i], `EDS response #${i + 1}`);
}

function request(c: AdsClient, names: string[], r: Resp, error?: string): void {
  c.send({
    type_url: TYPE_URL.endpoints,
    resource_names: names,
    version_info: r.version_info,
    response_nonce: r.nonce,
    ...(error === undefined ? {} : { error_detail: { code: 3, message: error } }),
  });
}

describe('an ACK recognised by its bytes', () => {
  it('is an ACK of the version the client sent, as a decoded one, whatever the order of its names', async () => {
    const c = new AdsClient(cp.port);
    clients.push(c);
    c.send({ node: { id: 'web-1' }, type_url: TYPE_URL.endpoints, resource_names: [ALL, V1] });
    const first = await nth(c, 0);
    request(c, [ALL, V1], first);
    await waitFor(() => events.length === 1 || undefined, 'the first ACK');
    expect(events).toEqual([`ack web-1 true ${first.version_info}`]);

    dir.write('mesh.yaml', webApiMesh('exact-ack', 3, 1));
    const second = await nth(c, 1);
    expect(second.version_info).not.toBe(first.version_info);
    // The same names in another order: other bytes, the same subscription.
    request(c, [V1, ALL], second);
    await waitFor(() => events.length === 2 || undefined, 'the second ACK');
    expect(events[1]).toBe(`ack web-1 true ${second.version_info}`);

    dir.write('mesh.yaml', webApiMesh('exact-ack', 4, 1));
    const third = await nth(c, 2);
    request(c, [V1, ALL], third);
    await waitFor(() => events.length === 3 || undefined, 'the third ACK');
    expect(events[2]).toBe(`ack web-1 true ${third.version_info}`);
    // An ACK of an older push (its nonce is not the last one sent) is stale: no event, no push.
    request(c, [V1, ALL], second);
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toHaveLength(3);
    expect(c.of(TYPE_URL.endpoints)).toHaveLength(3);
  });

  it('is not taken for a NACK, nor for a new subscription sent with the last nonce', async () => {
    const c = new AdsClient(cp.port);
    clients.push(c);
    c.send({ node: { id: 'web-2' }, type_url: TYPE_URL.endpoints, resource_names: [ALL] });
    const first = await nth(c, 0);
    request(c, [ALL], first, 'rejected');
    await waitFor(() => events.length === 1 || undefined, 'the NACK');
    expect(events).toEqual([`nack web-2 true ${first.version_info} rejected`]);

    // The same nonce with one more name: the new name is pushed at once.
    request(c, [ALL, V2], first);
    const second = await nth(c, 1);
    expect(second.resources.map((r) => r.cluster_name).sort()).toEqual([ALL, V2].sort());
    request(c, [ALL, V2], second);
    await waitFor(() => events.length === 3 || undefined, 'the ACK of the new subscription');
    expect(events.slice(1)).toEqual([`ack web-2 true ${first.version_info}`, `ack web-2 true ${second.version_info}`]);
  });
});

describe('AdsSession.ackIfExpected', () => {
  it('takes the protobuf encoding of the ACK of its last push, and nothing else', () => {
    const cache = new SnapshotCache(parseMesh(webApiMesh('exact-ack', 1, 1)));
    const sent: DiscoveryResponse[] = [];
    const acks: string[] = [];
    const session = new AdsSession(cache, (r) => sent.push(r), {
      log: () => undefined,
      ack: (node, typeUrl, version) => acks.push(`${node} ${typeUrl} ${version}`),
    });
    const reader = new DiscoveryRequestReader();
    const encode = (m: JsonMap): Buffer => Buffer.from(encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', m));
    const first = encode({ node: { id: 'web-1' }, type_url: TYPE_URL.endpoints, resource_names: [V1, ALL] });
    expect(session.ackIfExpected(first)).toBe(false);
    // The first request carries the node: the generic decoder's.
    expect(reader.read(first)).toBeUndefined();
    session.onRequest({ node: { id: 'web-1' }, type_url: TYPE_URL.endpoints, resource_names: [V1, ALL] });
    const r = sent[0] as DiscoveryResponse;
    const ack = (names: string[], nonce = r.nonce): Buffer =>
      encode({
        version_info: r.version_info,
        resource_names: names,
        type_url: TYPE_URL.endpoints,
        response_nonce: nonce,
      });
    // Without the subscription's bytes (the first request was not read by the reader) there is nothing to expect.
    expect(session.ackIfExpected(ack([V1, ALL]))).toBe(false);

    // A request read by the reader: its names' bytes are known, so is the ACK of the push it gets.
    const again = ack([V1, ALL]);
    session.onRequest(reader.read(again) as NonNullable<ReturnType<DiscoveryRequestReader['read']>>, reader.lastNames);
    expect(acks).toEqual([`web-1 ${TYPE_URL.endpoints} ${r.version_info}`]);
    cache.setMesh(parseMesh(webApiMesh('exact-ack', 2, 1)));
    const pushed = sent[1] as DiscoveryResponse;
    expect(pushed.version_info).not.toBe(r.version_info);
    const exact = encode({
      version_info: pushed.version_info,
      resource_names: [V1, ALL],
      type_url: TYPE_URL.endpoints,
      response_nonce: pushed.nonce,
    });
    expect(session.ackIfExpected(ack([ALL, V1], pushed.nonce))).toBe(false);
    expect(session.ackIfExpected(ack([V1, ALL], pushed.nonce))).toBe(false); // the old version
    expect(session.ackIfExpected(exact)).toBe(true);
    expect(acks).toEqual([
      `web-1 ${TYPE_URL.endpoints} ${r.version_info}`,
      `web-1 ${TYPE_URL.endpoints} ${pushed.version_info}`,
    ]);
    expect(sent).toHaveLength(2);
  });
});
