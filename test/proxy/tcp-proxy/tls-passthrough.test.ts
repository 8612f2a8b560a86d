// TLS passthrough, Envoy's most common tcp_proxy setup (its TLS sandbox's passthrough listener):
// the proxy never terminates TLS. tls_inspector reads the ClientHello's SNI, filter_chain_match
// `server_names` picks a chain, and that chain's tcp_proxy relays the encrypted bytes to its own
// TLS upstream; the node:tls client completes a verified handshake with the upstream itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startProxy, type ProxyServer } from '../../../proxy/index.js';
import { tcpBootstrap, tcpProxyFilter } from './helpers.js';

interface TlsUpstream {
  readonly port: number;
  readonly ca: Buffer;
  close(): Promise<void>;
}

/** A TLS server for `name` (self-signed certificate) answering every connection with its name. */
async function tlsUpstream(name: string): Promise<TlsUpstream> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
      .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`])
      .concat(['-addext', `subjectAltName=DNS:${name}`]),
    { stdio: 'ignore' },
  );
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => {
    s.on('error', () => {});
    s.end(`hello from ${name}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    ca: readFileSync(cert),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function tlsCall(port: number, servername: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca });
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

describe('TLS passthrough with SNI routing', () => {
  let a: TlsUpstream;
  let b: TlsUpstream;
  let proxy: ProxyServer;
  let port: number;

  beforeAll(async () => {
    a = await tlsUpstream('a.example');
    b = await tlsUpstream('b.example');
    const listener = {
      name: 'passthrough',
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      listener_filters: [
        {
          name: 'envoy.filters.listener.tls_inspector',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
          },
        },
      ],
      filter_chains: [
        {
          filter_chain_match: { server_names: ['a.example'] },
          filters: [tcpProxyFilter({ stat_prefix: 'a_passthrough', cluster: 'a' })],
        },
        {
          filter_chain_match: { server_names: ['b.example'] },
          filters: [tcpProxyFilter({ stat_prefix: 'b_passthrough', cluster: 'b' })],
        },
      ],
    };
    proxy = await startProxy({
      config: tcpBootstrap(
        [listener],
        [
          { name: 'a', ports: [a.port] },
          { name: 'b', ports: [b.port] },
        ],
      ),
      concurrency: 1,
      logLevel: 'off',
      drainTimeSeconds: 1,
    });
    const addr = proxy.listeners()[0]!.localAddress;
    port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  });

  afterAll(async () => {
    await proxy?.close(1000);
    await a?.close();
    await b?.close();
  });

  it('relays each ClientHello to the upstream its SNI names, which completes the handshake', async () => {
    expect(await tlsCall(port, 'a.example', a.ca)).toBe('hello from a.example');
    expect(await tlsCall(port, 'b.example', b.ca)).toBe('hello from b.example');
    // b's certificate does not verify for a.example: the handshake really is end to end.
    await expect(tlsCall(port, 'a.example', b.ca)).rejects.toThrow();
  });
});
