// Telemetry never hurts requests: a dead or hanging collector costs spans (counted), not
// responses. Access logs: JSON format, SIGUSR1 reopen for rotation, and config errors that
// name the field's path.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  bootstrap,
  CLI,
  closeServer,
  freePort,
  listen,
  listener,
  otelTracing,
  request,
  startSidecar,
  staticCluster,
  TelemetryReceiver,
  tmpDir,
  waitFor,
  type Sidecar,
} from './helpers.js';
import { findAttribute } from '../../../collector/receivers/otlp/model.js';

const servers: Server[] = [];
let sidecar: Sidecar | null = null;

afterEach(async () => {
  await sidecar?.stop();
  sidecar = null;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => closeServer(s)));
});

async function upstream(): Promise<number> {
  const s = createServer((_req, res) => res.end('ok'));
  servers.push(s);
  return listen(s);
}

function statValue(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
}

describe('span batches', () => {
  it('spans carrying huge header values all arrive intact, in more than one export rather than one ever-growing batch', async () => {
    const receiver = new TelemetryReceiver();
    await receiver.start();
    try {
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      // Node's default 16 KB header limit would refuse these requests upstream.
      const app = createServer({ maxHeaderSize: 128 * 1024 }, (_req, res) => res.end('ok'));
      servers.push(app);
      sidecar = await startSidecar(
        'big-values',
        bootstrap(
          'n',
          'svc',
          admin,
          [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
          [staticCluster('app', await listen(app)), staticCluster('collector', receiver.port)],
        ),
        [],
        // One schedule for all of them: only their size can split the batch.
        { OTEL_BSP_SCHEDULE_DELAY: '2000' },
      );
      const agent = 'a'.repeat(48 * 1024);
      for (let i = 0; i < 12; i++) expect((await request(port, `/big${i}`, [['user-agent', agent]])).status).toBe(200);
      const spans = await waitFor('12 spans', () => (receiver.spans.length >= 12 ? receiver.spans : undefined));
      expect(spans.map((s) => findAttribute(s.attributes, 'url.path')).sort()).toEqual(
        Array.from({ length: 12 }, (_, i) => `/big${i}`).sort(),
      );
      for (const s of spans) expect(findAttribute(s.attributes, 'user_agent.original')).toBe(agent);
      // 12 × 48 KB is past the 384 KB at which a batch is posted early.
      expect(receiver.traceExports).toBeGreaterThanOrEqual(2);
    } finally {
      await receiver.stop();
    }
  });

  it('many small batches, through batch buffers handed back and refilled, all arrive intact', async () => {
    const receiver = new TelemetryReceiver();
    await receiver.start();
    try {
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      sidecar = await startSidecar(
        'recycled',
        bootstrap(
          'n',
          'svc',
          admin,
          [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
          [staticCluster('app', await upstream()), staticCluster('collector', receiver.port)],
        ),
        [],
        { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3' },
      );
      // Different lengths (under the 256-character path tag limit), so a stale byte would show.
      const paths = Array.from({ length: 60 }, (_, i) => `/batch/${i}/${'p'.repeat(i * 4)}`);
      for (const p of paths) expect((await request(port, p, [])).status).toBe(200);
      const spans = await waitFor('60 spans', () => (receiver.spans.length >= 60 ? receiver.spans : undefined));
      expect(spans.map((s) => findAttribute(s.attributes, 'url.path')).sort()).toEqual([...paths].sort());
      expect(receiver.traceExports).toBeGreaterThanOrEqual(20);
    } finally {
      await receiver.stop();
    }
  });
});

describe('a slow or dead collector', () => {
  it('hanging collector: every request succeeds, spans beyond the bounded queue are dropped and counted', async () => {
    const hanging = createServer(() => {
      // Accepts the export and never answers.
    });
    servers.push(hanging);
    const collectorPort = await listen(hanging);
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    sidecar = await startSidecar(
      'hanging',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
        [staticCluster('app', await upstream()), staticCluster('collector', collectorPort)],
      ),
      [],
      { OTEL_BSP_MAX_QUEUE_SIZE: '10' },
    );
    for (let i = 0; i < 60; i++) {
      const r = await request(port, `/r${i}`, []);
      expect(r.status).toBe(200);
    }
    const stats = await waitFor('drops to be counted', async () => {
      const t = await sidecar!.admin('/stats?filter=tracing');
      return statValue(t, 'tracing.opentelemetry.spans_dropped') > 0 ? t : undefined;
    });
    expect(statValue(stats, 'tracing.opentelemetry.spans_dropped')).toBeGreaterThanOrEqual(30);
    expect(statValue(stats, 'tracing.opentelemetry.spans_sent')).toBe(0);
  });

  it('dead collector: requests succeed and failed exports are counted', async () => {
    const deadPort = await freePort();
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    sidecar = await startSidecar(
      'dead',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
        [staticCluster('app', await upstream()), staticCluster('collector', deadPort)],
      ),
    );
    for (let i = 0; i < 5; i++) expect((await request(port, '/x', [])).status).toBe(200);
    const stats = await waitFor(
      'a failed export to be counted',
      async () => {
        const t = await sidecar!.admin('/stats?filter=tracing');
        return statValue(t, 'tracing.opentelemetry.spans_failed') > 0 ? t : undefined;
      },
      30_000,
    );
    expect(statValue(stats, 'tracing.opentelemetry.spans_failed')).toBeGreaterThanOrEqual(1);
  });
});

/** Each thread's nice value, from /proc (field 19 of a task's stat line). */
function threadNiceValues(pid: number): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces: state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    nice.set(Number(tid), Number(fields[19 - 3]));
  }
  return nice;
}

describe.runIf(process.platform === 'linux')('export threads yield the CPU', () => {
  it('the span export thread runs at nice 10 while the request thread keeps normal priority', async () => {
    const collector = createServer((req, res) => req.resume().on('end', () => res.end()));
    servers.push(collector);
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    sidecar = await startSidecar(
      'nice',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
        [staticCluster('app', await upstream()), staticCluster('collector', await listen(collector))],
      ),
    );
    expect((await request(port, '/x', [])).status).toBe(200);
    const pid = sidecar.proc.pid!;
    const nice = await waitFor('a thread at nice 10', () => {
      const n = threadNiceValues(pid);
      return [...n.values()].includes(10) ? n : undefined;
    });
    // The request thread keeps the priority the proxy was started with (0 unless the test itself runs niced).
    expect(nice.get(pid)).toBe(getPriority());
    expect([...nice.values()].filter((v) => v === 10)).toHaveLength(1);
  });
});

describe('sampling at runtime', () => {
  it('tracing.random_sampling from /runtime_modify overrides the configured percentage (out of 10000)', async () => {
    const seen: string[] = [];
    const app = createServer((req, res) => {
      seen.push(String(req.headers['traceparent']));
      res.end('ok');
    });
    servers.push(app);
    const appPort = await listen(app);
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    sidecar = await startSidecar(
      'runtime',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', tracing: otelTracing(undefined, 100) })],
        [staticCluster('app', appPort), staticCluster('collector', await freePort())],
      ),
    );
    await request(port, '/a', []);
    expect(seen.at(-1)).toMatch(/-01$/);
    expect(await sidecar.admin('/runtime_modify?tracing.random_sampling=0', 'POST')).toContain('OK');
    for (let i = 0; i < 5; i++) await request(port, '/b', []);
    expect(seen.slice(-5).every((t) => t.endsWith('-00'))).toBe(true);
    // An incoming decision still wins over the runtime.
    await request(port, '/c', [['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']]);
    expect(seen.at(-1)).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  });
});

describe('istio.stats buckets', () => {
  it('histogram_bucket_settings sets the Istio histogram buckets', async () => {
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    const istio = {
      name: 'istio.stats',
      typed_config: {
        '@type': 'type.googleapis.com/stats.PluginConfig',
        histogram_bucket_settings: [
          { match: { prefix: 'istio_request_duration' }, buckets: [3, 7, 1000] },
          { match: { prefix: 'istio_request_bytes' }, buckets: [64, 4096] },
        ],
      },
    };
    sidecar = await startSidecar(
      'buckets',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', httpFilters: [istio] })],
        [staticCluster('app', await upstream())],
      ),
    );
    await request(port, '/', []);
    const text = await sidecar.admin('/stats/prometheus');
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{reporter="destination",[^}]*le="7"\} \d/);
    expect(text).not.toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="0\.5"\}/);
    expect(text).toMatch(/istio_request_bytes_bucket\{[^}]*le="4096"\} 1/);
    expect(text).toMatch(/istio_response_bytes_bucket\{[^}]*le="4096"\} 1/);
  });

  it('refuses buckets that are not increasing, naming the path', () => {
    const file = join(tmpDir, 'bad-buckets.json');
    const istio = {
      name: 'istio.stats',
      typed_config: {
        '@type': 'type.googleapis.com/stats.PluginConfig',
        histogram_bucket_settings: [{ match: { prefix: 'istio' }, buckets: [5, 1] }],
      },
    };
    writeFileSync(
      file,
      JSON.stringify(
        bootstrap(
          'n',
          'svc',
          1,
          [listener({ name: 'in', port: 1, direction: 'INBOUND', cluster: 'app', httpFilters: [istio] })],
          [staticCluster('app', 1)],
        ),
      ),
    );
    const r = spawnSync(process.execPath, [CLI, 'proxy', '-c', file, '--mode', 'validate'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'http_filters[0].typed_config.histogram_bucket_settings[0].buckets: buckets must be strictly increasing',
    );
  });
});

describe('access logs', () => {
  it('json_format keeps numbers typed and missing values null; SIGUSR1 reopens the file after rotation', async () => {
    const path = join(tmpDir, 'json-access.log');
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    const accessLog = [
      {
        name: 'envoy.access_loggers.file',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
          path,
          log_format: {
            json_format: {
              start: '%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%',
              method: '%REQ(:METHOD)%',
              path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):5%',
              code: '%RESPONSE_CODE%',
              flags: '%RESPONSE_FLAGS%',
              bytes: { in: '%BYTES_RECEIVED%', out: '%BYTES_SENT%' },
              upstream: '%UPSTREAM_HOST% via %UPSTREAM_CLUSTER%',
              missing: '%RESP(X-NOPE)%',
              route: '%ROUTE_NAME%',
              proto: '%PROTOCOL%',
              peer: '%DOWNSTREAM_REMOTE_ADDRESS%',
              duration: '%DURATION%',
            },
          },
        },
      },
    ];
    const app = await upstream();
    sidecar = await startSidecar(
      'jsonlog',
      bootstrap(
        'n',
        'svc',
        admin,
        [listener({ name: 'in', port, direction: 'INBOUND', cluster: 'app', accessLog })],
        [staticCluster('app', app)],
      ),
    );
    await request(port, '/first/path', [['user-agent', 'x']]);
    const first = await waitFor('the first line', () =>
      existsSync(path) && readFileSync(path, 'utf8').includes('\n') ? readFileSync(path, 'utf8') : undefined,
    );
    const entry = JSON.parse(first.split('\n')[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      method: 'GET',
      path: '/firs',
      code: 200,
      flags: '-',
      bytes: { in: 0, out: 2 },
      upstream: `127.0.0.1:${app} via app`,
      missing: null,
      proto: 'HTTP/1.1',
    });
    expect(entry['start']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(typeof entry['duration']).toBe('number');
    expect(entry['peer']).toMatch(/^127\.0\.0\.1:\d+$/);

    renameSync(path, `${path}.1`);
    sidecar.proc.kill('SIGUSR1');
    // The reopen happens on the next flush; keep logging until the new file appears.
    await waitFor('the reopened file', async () => {
      await request(port, '/after', []);
      return existsSync(path) && readFileSync(path, 'utf8').includes('/afte') ? true : undefined;
    });
    expect(readFileSync(`${path}.1`, 'utf8')).toContain('/firs');
    expect(sidecar.proc.exitCode).toBeNull();
  });

  it('a bad operator fails the load, naming the field path', () => {
    const file = join(tmpDir, 'bad-format.json');
    const accessLog = [
      {
        name: 'envoy.access_loggers.stdout',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
          log_format: { text_format_source: { inline_string: '%NOPE%' } },
        },
      },
    ];
    writeFileSync(
      file,
      JSON.stringify(
        bootstrap(
          'n',
          'svc',
          1,
          [listener({ name: 'in', port: 1, direction: 'INBOUND', cluster: 'app', accessLog })],
          [staticCluster('app', 1)],
        ),
      ),
    );
    const r = spawnSync(process.execPath, [CLI, 'proxy', '-c', file, '--mode', 'validate'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format.text_format_source.inline_string: unsupported command operator '%NOPE%'",
    );
  });

  it('an unknown collector cluster fails the load', () => {
    const file = join(tmpDir, 'bad-cluster.json');
    writeFileSync(
      file,
      JSON.stringify(
        bootstrap(
          'n',
          'svc',
          0,
          [listener({ name: 'in', port: 0, direction: 'INBOUND', cluster: 'app', tracing: otelTracing() })],
          [staticCluster('app', 1)],
        ),
      ),
    );
    const r = spawnSync(process.execPath, [CLI, 'proxy', '-c', file, '--concurrency', '1'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain("http_service.http_uri.cluster: unknown cluster 'collector'");
  });
});
