// `npm run bench:proxy-tls`: TLS termination, meshscope against nginx, side by side in one run.
// Same certificate (EC P-256, made with openssl), same upstream (nginx `return 200`), one worker
// each. Rows: wrk over HTTPS keep-alive through each proxy (goal ≥ 0.5× nginx's requests/s), and
// new full handshakes per second with `openssl s_time -new` and the same cipher (TLS 1.2
// ECDHE-ECDSA-AES128-GCM-SHA256; goal ≥ 0.5× nginx), and two sidecars with mTLS at 1000 req/s
// open loop (bench/lib/mtls-sidecars.ts; goal ≤ 1.5 ms added at p99). Prints JSON.
// Knobs: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (50), BENCH_ROUNDS (3), BENCH_TLS_ROWS
// (`wrk,handshakes,mtls`: which rows run), LAT_RATE (1000), LAT_SECONDS (10), WARM_SECONDS (3).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  launch,
  type Peer,
  proxyBootstrap,
  startMeshscope,
  startNginxUpstream,
  stopAll,
  workDir,
  withDownstreamTls,
} from './lib/peers.js';
import { median } from './lib/median.js';
import { measureMtlsSidecars, mtlsBenchOptions } from './lib/mtls-sidecars.js';
import { runWrk } from './lib/wrk.js';
import { selfSignedP256 } from '../test/helpers/openssl.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CIPHER = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const ROWS = new Set((process.env.BENCH_TLS_ROWS ?? 'wrk,handshakes,mtls').split(',').map((r) => r.trim()));

function makeCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(workDir, 'tls-'));
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  selfSignedP256({
    key,
    cert,
    subject: '/CN=localhost',
    days: 1,
    extensions: ['subjectAltName=DNS:localhost,IP:127.0.0.1'],
  });
  return { cert, key };
}

async function startMeshscopeTls(upstreamPort: number, cert: string, key: string): Promise<Peer> {
  const port = await freePort();
  const b = withDownstreamTls(proxyBootstrap(port, upstreamPort), { cert, key, alpn: ['http/1.1'] });
  return startMeshscope('meshscope-tls-c1', b, port, ['--concurrency', '1']);
}

async function startNginxTls(upstreamPort: number, cert: string, key: string): Promise<Peer> {
  const port = await freePort();
  const dir = mkdtempSync(join(workDir, 'nginx-tls-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  return launch('nginx-tls', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port);
}

/** `openssl s_time -new`: full handshakes (no resumption) per second for `seconds`. */
function handshakesPerSecond(port: number, seconds: number): number {
  const r = spawnSync(
    'openssl',
    ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(seconds), '-cipher', CIPHER, '-tls1_2'],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 },
  );
  const m = /(\d+) connections in ([\d.]+)s/.exec(r.stdout ?? '');
  if (m === null) throw new Error(`openssl s_time printed no result: ${r.stdout}${r.stderr}`);
  return Number(m[1]) / Number(m[2]);
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function ratioRow(m: Map<string, number[]>, unit: string): Record<string, number> | null {
  const ms = m.get('meshscope-tls-c1');
  const ng = m.get('nginx-tls-1-worker');
  if (ms === undefined || ng === undefined) return null;
  return {
    [`meshscope${unit}`]: Math.round(median(ms)),
    [`nginx${unit}`]: Math.round(median(ng)),
    ratioToNginx: round2(median(ms) / median(ng)),
    goal: 0.5,
  };
}

async function main(): Promise<void> {
  const { cert, key } = makeCertificate();
  const upstream = await startNginxUpstream();
  const peers = [
    { name: 'meshscope-tls-c1', start: () => startMeshscopeTls(upstream.port, cert, key) },
    { name: 'nginx-tls-1-worker', start: () => startNginxTls(upstream.port, cert, key) },
  ];
  const rps = new Map<string, number[]>();
  const handshakes = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number): void =>
    void (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  let mtls: Record<string, unknown> | null = null;
  try {
    if (ROWS.has('wrk') || ROWS.has('handshakes'))
      for (let round = 0; round < ROUNDS; round++) {
        for (const p of peers) {
          const peer = await p.start();
          try {
            // Steady state, as the other rows measure it: meshscope's JIT warms up, both peers'
            // upstream keep-alive pools fill (discarded).
            if (ROWS.has('wrk')) runWrk(`https://127.0.0.1:${peer.port}/`, { connections: CONNECTIONS, seconds: 2 });
            if (ROWS.has('wrk'))
              push(
                rps,
                p.name,
                runWrk(`https://127.0.0.1:${peer.port}/`, { connections: CONNECTIONS, seconds: SECONDS })
                  .requestsPerSecond,
              );
            if (ROWS.has('handshakes'))
              push(handshakes, p.name, handshakesPerSecond(peer.port, Math.max(2, Math.round(SECONDS / 2))));
          } finally {
            await peer.stop();
          }
        }
      }
    if (ROWS.has('mtls')) mtls = await measureMtlsSidecars(upstream.port, mtlsBenchOptions(ROUNDS));
  } finally {
    await stopAll();
  }
  console.log(
    JSON.stringify(
      {
        seconds: SECONDS,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        cipher: CIPHER,
        wrkHttps: ratioRow(rps, 'RequestsPerSecond'),
        newHandshakes: ratioRow(handshakes, 'PerSecond'),
        twoSidecarsMtls: mtls,
      },
      null,
      2,
    ),
  );
}

await main();
