// Bootstraps in the shape of envoyproxy/examples tls-sni and tls (https-https) load and route as
// Envoy would, checked with curl: SNI picks the filter chain and its certificate (or passes TLS
// through unterminated), and TLS is originated to an HTTPS upstream.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../proxy/index.js';
import { type RunningProxy, startTestProxy, startUpstream } from '../helpers.js';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
let fx: TlsFixtures;

beforeAll(() => {
  fx = makeTlsFixtures();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function fixture(name: string, values: Record<string, string | number>): unknown {
  let text = readFileSync(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url)), 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.replaceAll(`\${${k}}`, String(v));
  return parseConfigText(text, name);
}

async function proxyFor(config: unknown): Promise<RunningProxy> {
  const p = await startTestProxy(config);
  cleanups.push(() => p.close());
  return p;
}

async function httpsUpstream(cert: { cert: string; key: string }, body: string): Promise<number> {
  const server = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (_req, res) =>
    res.end(body),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve) =>
    execFile('curl', ['-sS', ...args], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(stdout || stderr)),
  );
}

describe('envoyproxy/examples TLS shapes', () => {
  it('tls-sni: each name gets its chain and certificate; domain3 is passed through to its own TLS server', async () => {
    const [u1, u2] = [await startUpstream('upstream1'), await startUpstream('upstream2')];
    cleanups.push(
      () => u1.close(),
      () => u2.close(),
    );
    const d1 = fx.issueFor('domain1.example.com');
    const d2 = fx.issueFor('domain2.example.com');
    const d3 = fx.issueFor('domain3.example.com');
    const p = await proxyFor(
      fixture('tls-sni.yaml', {
        DOMAIN1_CERT: d1.cert,
        DOMAIN1_KEY: d1.key,
        DOMAIN2_CERT: d2.cert,
        DOMAIN2_KEY: d2.key,
        UPSTREAM1_PORT: u1.port,
        UPSTREAM2_PORT: u2.port,
        HTTPS_UPSTREAM3_PORT: await httpsUpstream(d3, 'domain3 backend'),
      }),
    );
    const get = (host: string) =>
      curl(['--cacert', fx.caCert, '--resolve', `${host}:${p.port}:127.0.0.1`, `https://${host}:${p.port}/`]);
    expect(JSON.parse(await get('domain1.example.com')).upstream).toBe('upstream1');
    expect(JSON.parse(await get('domain2.example.com')).upstream).toBe('upstream2');
    // Verified against domain3's own certificate: the proxy did not terminate it.
    expect(await get('domain3.example.com')).toBe('domain3 backend');
    // No chain for an unknown name: the connection is closed.
    expect(await get('other.example.com')).toMatch(/curl: \(\d+\)/);
  });

  it('double-proxy: a frontend tunnels to the backend proxy over mutual TLS with SAN matching both ways', async () => {
    const app = await startUpstream('app');
    cleanups.push(() => app.close());
    const frontendId = fx.issueFor('proxy-frontend.example.com');
    const backendId = fx.issueFor('proxy-backend.example.com');
    const backend = await proxyFor(
      fixture('double-proxy-tls-backend.yaml', {
        SERVER_CERT: backendId.cert,
        SERVER_KEY: backendId.key,
        CA_CERT: fx.caCert,
        APP_PORT: app.port,
      }),
    );
    const frontend = await proxyFor(
      fixture('double-proxy-tls-frontend.yaml', {
        BACKEND_PROXY_PORT: backend.port,
        CLIENT_CERT: frontendId.cert,
        CLIENT_KEY: frontendId.key,
        CA_CERT: fx.caCert,
      }),
    );
    expect(JSON.parse(await curl([`http://127.0.0.1:${frontend.port}/through`])).upstream).toBe('app');
    // The backend refuses a client whose certificate names someone else.
    const other = fx.issueFor('proxy-other.example.com');
    const refused = await curl([
      '--cacert',
      fx.caCert,
      '--cert',
      other.cert,
      '--key',
      other.key,
      '--connect-to',
      `proxy-backend.example.com:${backend.port}:127.0.0.1:${backend.port}`,
      `https://proxy-backend.example.com:${backend.port}/`,
    ]);
    expect(refused).toMatch(/curl: \(\d+\)/);
  });

  it('tls https-https: terminates TLS and originates TLS to the upstream (UpstreamTlsContext with no options)', async () => {
    const server = fx.issueServer('examples');
    const p = await proxyFor(
      fixture('tls-https-https.yaml', {
        CERT: server.cert,
        KEY: server.key,
        HTTPS_UPSTREAM_PORT: await httpsUpstream(fx.issueFor('service-https'), 'hello over https'),
      }),
    );
    expect(await curl(['--cacert', fx.caCert, `https://localhost:${p.port}/`])).toBe('hello over https');
  });
});
