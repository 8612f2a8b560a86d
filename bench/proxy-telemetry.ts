// `npm run bench:proxy-telemetry`: what telemetry costs the proxy, measured side by side.
// 1. Throughput (wrk, closed loop, same connection count): nginx `return 200` directly;
//    meshscope --concurrency 1 with telemetry off; the same with telemetry on (100% sampling
//    OTLP tracer to a local receiver, istio.stats, file access log). Goal: on ≥ 0.75 × off.
// 2. Two-sidecar latency (open loop, 1000 req/s, latency measured from the intended send time
//    so queueing is not hidden): client → nginx vs client → sidecar → sidecar → nginx, with the
//    sidecars' telemetry off and on.
//    Goal: ≤ 1 ms added at p99 (Istio publishes 2.7 ms).
// Prints one JSON object. Bounded: BENCH_SECONDS per wrk row (default 8) for BENCH_ROUNDS
// interleaved rounds (default 3; medians reported), LAT_SECONDS per latency row (default 10),
// after WARM_SECONDS (default 3) of the same load unrecorded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LAT_SECONDS = Number(process.env.LAT_SECONDS ?? 10);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const RATE = Number(process.env.LAT_RATE ?? 1000);
const CLI = resolve(import.meta.dirname, '../cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'meshscope-bench-tel-'));
const children: ChildProcess[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

async function waitHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startNginx(): Promise<number> {
  const port = await freePort();
  const prefix = join(dir, 'nginx');
  spawnSync('mkdir', ['-p', join(prefix, 'logs')]);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${prefix}; proxy_temp_path ${prefix}; fastcgi_temp_path ${prefix}; uwsgi_temp_path ${prefix}; scgi_temp_path ${prefix};
  server { listen 127.0.0.1:${port}; keepalive_requests 1000000; location / { return 200 'ok'; } } }
`,
  );
  const p = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', conf], { stdio: 'ignore' });
  children.push(p);
  await waitHttp(`http://127.0.0.1:${port}/`);
  return port;
}

// A local OTLP receiver that accepts and discards (the collector's cost is not measured here).
// It runs in its own process: in this one it would share the event loop of the latency row's
// measuring client, and every span batch it parses would delay the responses being timed.
const SINK_SCRIPT = `
const { createServer } = require('node:http');
const s = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/x-protobuf');
    res.end();
  });
});
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

async function startSink(): Promise<number> {
  const p = spawn(process.execPath, ['-e', SINK_SCRIPT], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(p);
  return new Promise((res, rej) => {
    let out = '';
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) res(Number(out.trim()));
    });
    p.once('exit', () => rej(new Error('OTLP sink exited')));
  });
}

function cluster(name: string, port: number): object {
  return { name, type: 'STATIC', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] } };
}

interface ProxySpec {
  name: string;
  port: number;
  admin: number;
  direction: 'INBOUND' | 'OUTBOUND';
  upstream: number;
  telemetry: boolean;
  sink: number;
}

function bootstrapFor(s: ProxySpec): object {
  const hcm: Record<string, unknown> = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: s.name,
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream' } }] }] },
    http_filters: [
      ...(s.telemetry ? [{ name: 'istio.stats', typed_config: { '@type': 'type.googleapis.com/stats.PluginConfig' } }] : []),
      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
    ],
  };
  if (s.telemetry) {
    hcm['tracing'] = {
      random_sampling: { value: 100 },
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
          service_name: s.name,
          http_service: { http_uri: { uri: 'http://sink/v1/traces', cluster: 'sink', timeout: '1s' } },
        },
      },
    };
    hcm['access_log'] = [
      { name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: join(dir, `${s.name}.log`) } },
    ];
  }
  return {
    node: { id: `${s.name}-1`, cluster: s.name, metadata: { NAMESPACE: 'bench', WORKLOAD_NAME: s.name } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: s.admin } } },
    static_resources: {
      listeners: [
        {
          name: s.name,
          address: { socket_address: { address: '127.0.0.1', port_value: s.port } },
          traffic_direction: s.direction,
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
        },
      ],
      clusters: [cluster('upstream', s.upstream), cluster('sink', s.sink)],
    },
  };
}

async function startProxy(s: ProxySpec): Promise<ChildProcess> {
  const file = join(dir, `${s.name}.json`);
  writeFileSync(file, JSON.stringify(bootstrapFor(s)));
  const p = spawn(process.execPath, [CLI, 'proxy', '-c', file, '--concurrency', '1', '--drain-time-s', '1', '-l', 'warning'], { stdio: 'ignore' });
  children.push(p);
  await waitHttp(`http://127.0.0.1:${s.admin}/ready`);
  return p;
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      res();
    });
    p.kill('SIGTERM');
  });
}

function peakRssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Math.round(Number(m[1]) / 102.4) / 10;
  } catch {
    return null;
  }
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

interface WrkRow {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/** wrk runs as a child without blocking this process, which also serves the OTLP sink. */
function wrk(port: number): Promise<WrkRow> {
  return new Promise((res, rej) => {
    const p = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), (SECONDS + 30) * 1000);
    p.once('error', rej);
    p.once('exit', () => {
      clearTimeout(timer);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const pct = (q: string): number => {
        const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
        return m === null ? NaN : Math.round(toMs(m[1]!, m[2]!) * 1000) / 1000;
      };
      const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?timeout (\d+)/.exec(out)?.[1] ?? 0);
      res({ rps: Math.round(rps), p50_ms: pct('50'), p99_ms: pct('99'), errors });
    });
  });
}

/**
 * Open-loop load at RATE req/s for LAT_SECONDS over a keep-alive pool; each latency runs from
 * the request's scheduled time (wrk2-style), so a stall counts against every request it delays.
 * The same schedule first runs WARM_SECONDS unrecorded, so the row measures proxies in steady
 * state (JIT-compiled hot path, grown pools) as Istio's published figures are, not their first
 * second after start.
 */
async function openLoop(port: number): Promise<{ sent: number; errors: number; p50_ms: number; p90_ms: number; p99_ms: number; max_ms: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
  await paced(pool, WARM_SECONDS, null);
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const { sent, errors } = await paced(pool, LAT_SECONDS, h);
  await pool.close();
  const us = (p: number): number => Math.round(h.getValueAtPercentile(p)) / 1000;
  return { sent, errors, p50_ms: us(50), p90_ms: us(90), p99_ms: us(99), max_ms: Math.round(h.maxValue) / 1000 };
}

/** Sends RATE req/s for `seconds`, recording each latency from its scheduled send into `h` when given. */
async function paced(pool: Pool, seconds: number, h: hdr.Histogram | null): Promise<{ sent: number; errors: number }> {
  const total = RATE * seconds;
  const intervalNs = 1e9 / RATE;
  let sent = 0;
  let errors = 0;
  const inflight: Array<Promise<void>> = [];
  const t0 = process.hrtime.bigint();
  // Every timer tick sends all requests that are due by now; no busy-waiting, so the client
  // does not steal the CPU the proxies need. Timer lateness counts as latency, as in wrk2.
  while (sent < total) {
    const elapsedNs = Number(process.hrtime.bigint() - t0);
    const due = Math.min(total, Math.floor(elapsedNs / intervalNs) + 1);
    while (sent < due) {
      const scheduled = t0 + BigInt(Math.round(sent * intervalNs));
      sent++;
      inflight.push(
        pool.request({ path: '/', method: 'GET' }).then(
          async (r) => {
            await r.body.dump();
            if (r.statusCode !== 200) errors++;
            h?.recordValue(Math.max(1, Number(process.hrtime.bigint() - scheduled) / 1000));
          },
          () => {
            errors++;
          },
        ),
      );
    }
    if (inflight.length > 4096) await Promise.all(inflight.splice(0, 2048));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  return { sent, errors };
}

async function main(): Promise<void> {
  const nginx = await startNginx();
  const sink = await startSink();
  const rows: Record<string, unknown> = {};

  // Both proxies stay up and the three wrk rows run interleaved for ROUNDS rounds: a burst of
  // other load on the shared machine then hits every row alike, and the medians over rounds
  // (the on/off ratio taken within each round) are what is reported.
  const proxies: Array<{ name: string; port: number; admin: number; p: ChildProcess }> = [];
  for (const telemetry of [false, true]) {
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    const name = telemetry ? 'telemetry_on' : 'telemetry_off';
    const p = await startProxy({ name, port, admin, direction: 'INBOUND', upstream: nginx, telemetry, sink });
    await wrk(port); // warm-up run, discarded
    proxies.push({ name, port, admin, p });
  }
  const runs = new Map<string, WrkRow[]>();
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const inRound = new Map<string, WrkRow>();
    inRound.set('nginx_direct', await wrk(nginx));
    for (const x of proxies) inRound.set(`meshscope_${x.name}`, await wrk(x.port));
    for (const [k, v] of inRound) runs.set(k, [...(runs.get(k) ?? []), v]);
    ratios.push(inRound.get('meshscope_telemetry_on')!.rps / inRound.get('meshscope_telemetry_off')!.rps);
  }
  for (const [k, rs] of runs) {
    rows[k] = { rps: Math.round(median(rs.map((r) => r.rps))), p50_ms: median(rs.map((r) => r.p50_ms)), p99_ms: median(rs.map((r) => r.p99_ms)), errors: rs.reduce((a, r) => a + r.errors, 0), rps_per_round: rs.map((r) => r.rps) };
  }
  for (const x of proxies) {
    const row = rows[`meshscope_${x.name}`] as Record<string, unknown>;
    row['peak_rss_mb'] = peakRssMb(x.p.pid);
    if (x.name === 'telemetry_on') {
      const stats = await (await fetch(`http://127.0.0.1:${x.admin}/stats?filter=tracing`)).text();
      Object.assign(row, { spans_sent: Number(/spans_sent: (\d+)/.exec(stats)?.[1] ?? 0), spans_dropped: Number(/spans_dropped: (\d+)/.exec(stats)?.[1] ?? 0) });
    }
    await stop(x.p);
  }

  // Two sidecars in front of the same nginx, telemetry off and on; the server and the OTLP sink
  // run in their own processes, so the measuring client's event loop only serves its requests.
  const serverPort = nginx;
  const direct = await openLoop(serverPort);
  const viaSidecars: Record<string, Awaited<ReturnType<typeof openLoop>>> = {};
  for (const telemetry of [false, true]) {
    const [inPort, inAdmin, outPort, outAdmin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const tag = telemetry ? 'on' : 'off';
    const inbound = await startProxy({ name: `inbound_${tag}`, port: inPort, admin: inAdmin, direction: 'INBOUND', upstream: serverPort, telemetry, sink });
    const outbound = await startProxy({ name: `outbound_${tag}`, port: outPort, admin: outAdmin, direction: 'OUTBOUND', upstream: inPort, telemetry, sink });
    viaSidecars[tag] = await openLoop(outPort);
    await Promise.all([stop(inbound), stop(outbound)]);
  }
  const withTelemetry = viaSidecars['on']!;

  const on = rows['meshscope_telemetry_on'] as WrkRow;
  const nginxRow = rows['nginx_direct'] as WrkRow;
  const result = {
    bench: 'proxy-telemetry',
    wrk: { threads: 1, connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS },
    rows,
    ratios: {
      telemetry_on_over_off_rps: Math.round(median(ratios) * 1000) / 1000,
      telemetry_on_over_off_rps_per_round: ratios.map((r) => Math.round(r * 1000) / 1000),
      telemetry_on_over_nginx_rps: Math.round((on.rps / nginxRow.rps) * 1000) / 1000,
      goal_on_over_off_rps: 0.75,
    },
    two_sidecar_latency: {
      rate_per_s: RATE,
      seconds: LAT_SECONDS,
      warm_up_seconds_unrecorded: WARM_SECONDS,
      direct,
      via_two_sidecars_telemetry_off: viaSidecars['off'],
      via_two_sidecars_telemetry_on: withTelemetry,
      added_p50_ms: Math.round((withTelemetry.p50_ms - direct.p50_ms) * 1000) / 1000,
      added_p99_ms: Math.round((withTelemetry.p99_ms - direct.p99_ms) * 1000) / 1000,
      goal_added_p99_ms: 1,
      istio_published_added_p99_ms: 2.7,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all(children.map((c) => stop(c)));
    rmSync(dir, { recursive: true, force: true });
  });
