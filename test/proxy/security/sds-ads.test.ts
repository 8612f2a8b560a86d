// SDS over ADS (type envoy.extensions.transport_sockets.tls.v3.Secret) from a management server
// written here with @grpc/grpc-js: a TLS listener names its certificate with `sds_config: { ads:
// {} }`, the proxy subscribes to that secret, serves with it, takes a rotated one for new
// connections, and NACKs a secret whose key is not its certificate's (or whose OCSP staple does
// not parse), and a listener whose pin is not base64, with error_detail naming the field, while
// the last good certificate keeps serving.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyServer } from '../../../proxy/index.js';
import type { JsonMap } from '../../../proxy/xds/index.js';
import { freePorts, waitFor } from '../../control-plane/helpers.js';
import { startUpstream, type Upstream } from '../helpers.js';
import {
  ADS_SERVICE,
  type DiscoveryRequestJson as Req,
  httpListenerResource,
  startAdsProxy,
  staticClusterResource,
} from '../xds/helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const SDS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

let fx: TlsFixtures;
let up: Upstream;
let server: grpc.Server;
let proxy: ProxyServer;
let port: number;
const received: Req[] = [];
let push: ((typeUrl: string, version: string, resources: JsonMap[]) => void) | undefined;

function secret(cert: string, key: string): JsonMap {
  return {
    '@type': SDS,
    name: 'server_cert',
    tls_certificate: {
      certificate_chain: { inline_string: readFileSync(cert, 'utf8') },
      private_key: { inline_string: readFileSync(key, 'utf8') },
    },
  };
}

function listener(): JsonMap {
  const l = httpListenerResource('ingress', port, {
    route_config: {
      name: 'local',
      virtual_hosts: [
        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] },
      ],
    },
  }) as { filter_chains: JsonMap[] } & JsonMap;
  l.filter_chains[0]!.transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        tls_certificate_sds_secret_configs: [
          { name: 'server_cert', sds_config: { ads: {}, resource_api_version: 'V3' } },
        ],
      },
    },
  };
  return l;
}

beforeAll(async () => {
  fx = makeTlsFixtures();
  up = await startUpstream('backend');
  const [listenerPort, admin] = await freePorts(2);
  port = listenerPort!;
  server = new grpc.Server();
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (stream: grpc.ServerDuplexStream<Req, JsonMap>) => {
      let nonce = 0;
      const send = (typeUrl: string, version: string, resources: JsonMap[]): void => {
        nonce += 1;
        stream.write({ version_info: version, type_url: typeUrl, nonce: `n${nonce}`, resources });
      };
      push = send;
      stream.on('data', (req: Req) => {
        received.push(req);
        if (req.response_nonce !== undefined && req.response_nonce !== '') return;
        if (req.type_url === CDS) send(CDS, 'c1', [staticClusterResource('backend', up.port) as JsonMap]);
        if (req.type_url === LDS) send(LDS, 'l1', [listener()]);
        if (req.type_url === SDS) send(SDS, 's1', [secret(fx.serverCert, fx.serverKey)]);
      });
      stream.on('error', () => undefined);
    },
  });
  proxy = await startAdsProxy({ id: 'sds-node', cluster: 'test' }, admin!, server);
});

afterAll(async () => {
  await proxy?.close(500);
  server?.forceShutdown();
  await up?.close();
});

/** The subject CN of the certificate a new TLS connection gets, or the error it failed with. */
function served(): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(fx.caCert), servername: 'localhost' }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.end();
    });
    s.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

describe('SDS over ADS', () => {
  it('subscribes to the secret a listener names, serves it, rotates, NACKs bad material and keeps the last good', async () => {
    await waitFor(async () => (await served()) === 'localhost', 'TLS served with the SDS certificate');
    const sub = received.find((r) => r.type_url === SDS);
    expect(sub?.resource_names).toEqual(['server_cert']);
    await waitFor(
      () => received.some((r) => r.type_url === SDS && r.version_info === 's1' && r.response_nonce !== ''),
      'SDS ACK',
    );

    const next = fx.issueServer('ads');
    push!(SDS, 's2', [secret(next.cert, next.key)]);
    await waitFor(async () => (await served()) === 'localhost-ads', 'rotated certificate on new connections');

    const bad = fx.issueServer('ads-bad');
    push!(SDS, 's3', [secret(bad.cert, fx.clientKey)]);
    await waitFor(() => received.some((r) => r.type_url === SDS && r.error_detail !== undefined), 'SDS NACK');
    const nack = received.find((r) => r.type_url === SDS && r.error_detail !== undefined)!;
    expect(nack.version_info).toBe('s2');
    expect(nack.error_detail?.message).toContain(
      "server_cert: secret 'server_cert'.tls_certificate.private_key: does not match the certificate in certificate_chain",
    );
    expect(await served()).toBe('localhost-ads');
  });

  it('NACKs a staple that does not parse (SDS) and a pin that is not base64 (LDS), naming the field', async () => {
    const withStaple = secret(fx.serverCert, fx.serverKey) as JsonMap & { tls_certificate: JsonMap };
    withStaple.tls_certificate.ocsp_staple = { inline_bytes: Buffer.from('not OCSP').toString('base64') };
    push!(SDS, 's4', [withStaple]);
    const sdsNack = () =>
      received.find(
        (r) => r.type_url === SDS && r.error_detail?.message?.includes('tls_certificate.ocsp_staple') === true,
      );
    await waitFor(() => sdsNack() !== undefined, 'SDS NACK for the staple');
    expect(sdsNack()!.error_detail?.message).toContain(
      "secret 'server_cert'.tls_certificate.ocsp_staple: not a usable DER OCSP response in inline data",
    );

    const pinned = listener() as { filter_chains: Array<{ transport_socket: { typed_config: JsonMap } }> } & JsonMap;
    const common = pinned.filter_chains[0]!.transport_socket.typed_config.common_tls_context as JsonMap;
    common.validation_context = { verify_certificate_spki: ['!'.repeat(44)] };
    push!(LDS, 'l2', [pinned]);
    const ldsNack = () => received.find((r) => r.type_url === LDS && r.error_detail !== undefined);
    await waitFor(() => ldsNack() !== undefined, 'LDS NACK for the pin');
    expect(ldsNack()!.version_info).toBe('l1');
    expect(ldsNack()!.error_detail?.message).toContain(
      `validation_context.verify_certificate_spki[0]: '${'!'.repeat(44)}' is not a base64-encoded SHA-256`,
    );
    // The last good listener and certificate keep serving.
    expect(await served()).toBe('localhost-ads');
  });

  it('NACKs a must-staple certificate that comes without a staple (Envoy refuses to serve it) and keeps the last good', async () => {
    const before = received.filter((r) => r.type_url === SDS && r.error_detail !== undefined).length;
    const mustStaple = fx.issueServer('must-staple', ['tlsfeature=status_request']);
    push!(SDS, 's5', [secret(mustStaple.cert, mustStaple.key)]);
    const nacks = () => received.filter((r) => r.type_url === SDS && r.error_detail !== undefined);
    await waitFor(() => nacks().length > before, 'SDS NACK for the must-staple certificate');
    const nack = nacks().at(-1)!;
    expect(nack.version_info).not.toBe('s5');
    expect(nack.error_detail?.message).toContain(
      "tls_certificate_sds_secret_configs[0]: secret 'server_cert'.tls_certificate.ocsp_staple: OCSP response is required for must-staple certificate",
    );
    expect(await served()).toBe('localhost-ads');
  });
});
