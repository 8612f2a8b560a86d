// The server writes state-of-the-world DiscoveryResponses straight into gRPC frames from each
// resource's cached Any bytes; the bytes must be exactly what the protobuf codec encodes, for
// every type of a real node's resources, so a proxy decodes the same configuration.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import { parseMesh, SnapshotCache, TYPE_URL } from '../../control-plane/index.js';
import { withType, type DiscoveryResponse } from '../../control-plane/xds/protocol.js';
import { discoveryResponseFrame } from '../../control-plane/xds/response-frame.js';

const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const mesh = parseMesh(
  readFileSync(new URL('../../control-plane/mesh/examples/bookshop.yaml', import.meta.url), 'utf8'),
);

describe('DiscoveryResponse frames', () => {
  it('are the codec encoding of the response behind a gRPC length prefix, for every type of a node', () => {
    const snapshot = new SnapshotCache(mesh).snapshot('frontend-v1', { kind: 'ads' });
    for (const kind of ['clusters', 'endpoints', 'listeners', 'routes'] as const) {
      const resources = [...snapshot.types[kind].resources.values()];
      expect(resources.length).toBeGreaterThan(0);
      const r: DiscoveryResponse = {
        version_info: snapshot.types[kind].version,
        resources: withType(TYPE_URL[kind], resources, undefined),
        type_url: TYPE_URL[kind],
        nonce: 'n-1',
      };
      const framed = discoveryResponseFrame(r);
      const expected = encodeMessage(RESPONSE, r as unknown as JsonValue);
      expect(framed[0]).toBe(0);
      expect(framed.readUInt32BE(1)).toBe(expected.length);
      expect(Buffer.from(framed.subarray(5)).equals(Buffer.from(expected))).toBe(true);
      expect(decodeMessage(RESPONSE, framed.subarray(5)).version_info).toBe(r.version_info);
    }
  });

  it('leave out empty strings as proto3 does, and carry no resources when there are none', () => {
    const r: DiscoveryResponse = { version_info: '', resources: [], type_url: TYPE_URL.clusters, nonce: 'x' };
    const framed = discoveryResponseFrame(r);
    expect(
      Buffer.from(framed.subarray(5)).equals(Buffer.from(encodeMessage(RESPONSE, r as unknown as JsonValue))),
    ).toBe(true);
  });
});
