// A lightweight state-of-the-world ADS client for bench:xds: one HTTP/2 connection and one
// StreamAggregatedResources stream per simulated sidecar, subscribing as Envoy does (CDS and
// LDS wildcard, then EDS for the EDS clusters and RDS for the route configurations the
// listeners name) and ACKing each response. LDS and CDS responses (only at start in the bench)
// are decoded in full to learn those names; RDS and EDS responses are read only for their
// version, type URL and nonce — decoding a thousand sidecars' pushes in full would measure
// the clients, not the control plane. The real proxies in the bench apply everything.
import http2 from 'node:http2';
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../../proxy/xds/index.js';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const TYPE = {
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

interface Envelope {
  version: string;
  typeUrl: string;
  nonce: string;
}

function readVarint(b: Buffer, pos: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (;;) {
    const byte = b[pos++] as number;
    n += (byte & 0x7f) * mul;
    if (byte < 0x80) return [n, pos];
    mul *= 128;
  }
}

/** DiscoveryResponse's version_info (1), type_url (4) and nonce (5); resources (2) are skipped. */
function envelope(b: Buffer): Envelope {
  const out: Envelope = { version: '', typeUrl: '', nonce: '' };
  let pos = 0;
  while (pos < b.length) {
    let key: number;
    [key, pos] = readVarint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) [, pos] = readVarint(b, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(b, pos);
      if (field === 1) out.version = b.toString('utf8', pos, pos + len);
      else if (field === 4) out.typeUrl = b.toString('utf8', pos, pos + len);
      else if (field === 5) out.nonce = b.toString('utf8', pos, pos + len);
      pos += len;
    } else throw new Error(`DiscoveryResponse: wire type ${wire} of field ${field}`);
  }
  return out;
}

function typedConfigs(listener: JsonMap): JsonMap[] {
  const chains = (listener.filter_chains as JsonMap[] | undefined) ?? [];
  return chains.flatMap((c) => ((c.filters as JsonMap[] | undefined) ?? []).map((f) => f.typed_config as JsonMap));
}

export class LightAdsClient {
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #node: JsonMap;
  #nodeSent = false;
  #pending: Buffer = Buffer.alloc(0);
  readonly #names = new Map<string, string[]>();

  constructor(target: string, node: JsonMap, onError: (err: Error) => void) {
    this.#node = node;
    this.#session = http2.connect(`http://${target}`);
    this.#session.on('error', onError);
    this.#stream = this.#session.request({
      ':method': 'POST',
      ':path': ADS_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.#stream.on('error', onError);
    this.#stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#request(TYPE.clusters, '', [], '');
    this.#request(TYPE.listeners, '', [], '');
  }

  #request(typeUrl: string, version: string, names: string[], nonce: string): void {
    const req: JsonMap = { version_info: version, resource_names: names, type_url: typeUrl, response_nonce: nonce };
    if (!this.#nodeSent) req.node = this.#node;
    this.#nodeSent = true;
    const message = encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', req as JsonValue);
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.#stream.write(frame);
  }

  #onData(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 5) {
      const length = this.#pending.readUInt32BE(1);
      if (this.#pending.length < 5 + length) return;
      this.#onResponse(this.#pending.subarray(5, 5 + length));
      this.#pending = this.#pending.subarray(5 + length);
    }
  }

  #onResponse(message: Buffer): void {
    const { version, typeUrl, nonce } = envelope(message);
    if (typeUrl === TYPE.clusters || typeUrl === TYPE.listeners) {
      const resources = (decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', message).resources ??
        []) as JsonMap[];
      const names =
        typeUrl === TYPE.clusters
          ? resources.filter((c) => c.eds_cluster_config !== undefined).map((c) => c.name as string)
          : resources.flatMap((l) =>
              typedConfigs(l).flatMap((hcm) => {
                const rds = hcm.rds as JsonMap | undefined;
                return rds === undefined ? [] : [rds.route_config_name as string];
              }),
            );
      this.#request(typeUrl, version, [], nonce);
      const dependent = typeUrl === TYPE.clusters ? TYPE.endpoints : TYPE.routes;
      const wanted = [...new Set(names)].sort();
      const before = this.#names.get(dependent);
      if (before === undefined || before.join('\0') !== wanted.join('\0')) {
        this.#names.set(dependent, wanted);
        if (wanted.length > 0) this.#request(dependent, '', wanted, '');
      }
      return;
    }
    this.#request(typeUrl, version, this.#names.get(typeUrl) ?? [], nonce);
  }

  close(): void {
    this.#stream.close();
    this.#session.destroy();
  }
}
