// The xDS server reads ACKs without the protobuf codec: what it reads must be what the codec
// decodes, requests it does not cover (a node, a field it does not know) go to the codec, and
// a truncated request is refused.
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import { DiscoveryRequestReader } from '../../control-plane/xds/request-decode.js';

const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const bytes = (m: JsonValue): Buffer => Buffer.from(encodeMessage(REQUEST, m));

describe('DiscoveryRequest read from its bytes', () => {
  it('gives what the codec decodes for ACKs, NACKs and subscriptions', () => {
    const requests: JsonValue[] = [
      {
        version_info: '3f2a',
        resource_names: ['outbound|8080||shop/catalog', 'outbound|8080|v1|shop/catalog'],
        type_url: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
        response_nonce: 'k2-1f',
      },
      { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
      { version_info: '', response_nonce: 'k2-20', error_detail: { code: 3, message: 'route: unknown cluster ü' } },
    ];
    for (const m of requests) {
      const b = bytes(m);
      expect(new DiscoveryRequestReader().read(b)).toEqual(decodeMessage(REQUEST, b));
    }
  });

  it('leaves a request carrying the node to the codec, and refuses a truncated one', () => {
    expect(new DiscoveryRequestReader().read(bytes({ node: { id: 'catalog-v1' }, type_url: 'x' }))).toBeUndefined();
    const b = bytes({ version_info: 'abc', type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' });
    expect(() => new DiscoveryRequestReader().read(b.subarray(0, b.length - 3))).toThrow(/runs past the message/);
  });

  it('hands a repeated subscription back as the same array, and a changed one as a new one', () => {
    const reader = new DiscoveryRequestReader();
    const ack = (names: string[], nonce: string) =>
      reader.read(bytes({ version_info: 'v', resource_names: names, type_url: 't', response_nonce: nonce }));
    const first = ack(['a', 'b'], 'n1')?.resource_names;
    expect(first).toEqual(['a', 'b']);
    expect(ack(['a', 'b'], 'n2')?.resource_names).toBe(first);
    expect(ack(['a', 'c'], 'n3')?.resource_names).toEqual(['a', 'c']);
    // A remembered subscription that is only the start of this one is not taken for it.
    expect(ack(['a', 'b', 'd'], 'n4')?.resource_names).toEqual(['a', 'b', 'd']);
    expect(ack(['a', 'b'], 'n5')?.resource_names).toBe(first);
    // Names on both sides of another field (protobuf merges them) are all read.
    const split = Buffer.concat([
      bytes({ resource_names: ['a', 'b'], type_url: 't' }),
      bytes({ resource_names: ['e'], response_nonce: 'n6' }),
    ]);
    expect(reader.read(split)).toEqual(decodeMessage(REQUEST, split));
    expect(reader.read(split)?.resource_names).toEqual(['a', 'b', 'e']);
  });
});
