// chDB's CPU per span for a stream of the collector's own otel_traces inserts, merges included
// (issue 19's itemisation): SHAPE (sidecar | synthetic) spans decoded as the collector decodes
// them (or SHAPE=logs: otel_logs rows shaped like the proxy's access logs), ROWS (32768) per
// insert, INSERTS (16) inserts by its writer, then until no merge has run for a second. Prints process CPU per 100k spans (chDB's threads included) for the inserts and
// in all, CPU per thread name, the parts left, and with EVENTS=<regex> chDB's ProfileEvents
// (system.events) over the run, e.g. MergeTotalMilliseconds, InsertedWideParts. REPEAT (1): the
// decoded batches inserted that many times over, for merges of a longer stream. For A/B runs,
// one process per variant, interleaved: VARIANT (a label), VARIANT_SQL (statements after the
// embedded tuning, ';'-separated, e.g. ALTER TABLE otel_traces MODIFY SETTING …),
// VARIANT_SETTINGS (extra insert settings, k=v,k=v), DUMP (a query printed at the end).
// Run: npm run bench:chdb-cost (or bundle: esbuild bench/chdb-cost.ts --bundle --platform=node --format=esm --packages=external
// --outfile=dist/bench/chdb-cost.js, then node dist/bench/chdb-cost.js with the variables above).

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spanWindow } from '../collector/pipeline/time-window.js';
import {
  type LogRecord,
  type ResourceContext,
  type ScopeContext,
  writeLogRow,
} from '../collector/receivers/otlp/model.js';
import { decodeTracesToColumns } from '../collector/receivers/otlp/protobuf-rows.js';
import { GRAPH_ATTRIBUTE_KEYS } from '../collector/servicegraph/store.js';
import { createStorageClient } from '../collector/storage/clickhouse/client.js';
import { RowBinaryWriter } from '../collector/storage/clickhouse/rowbinary.js';
import { EMBEDDED_INSERT_SETTINGS, tuneEmbeddedTables } from '../collector/storage/clickhouse/embedded.js';
import { migrate } from '../collector/storage/clickhouse/migrate.js';
import { type SpanColumns, SpanColumnsWriter } from '../collector/storage/clickhouse/span-columns.js';
import { type Rows, createRowWriter } from '../collector/storage/clickhouse/writer.js';
import { makeSidecarBodies, makeSyntheticBodies } from './lib/span-shapes.js';

const ROWS = Number(process.env.ROWS ?? 32768);
const INSERTS = Number(process.env.INSERTS ?? 16);
// The decoded batches inserted this many times over (each insert its own token), so merges reach
// the levels a sustained stream reaches without holding more decoded batches in memory.
const REPEAT = Number(process.env.REPEAT ?? 1);
const LOGS = process.env.SHAPE === 'logs';

/**
 * SHAPE=logs: otel_logs rows as the pipeline encodes them (writeLogRow, RowBinary), shaped like
 * the proxy's OpenTelemetry access logs: Envoy's default access log line as the body, the
 * stream's trace and span ids, eight request attributes, a sidecar's resource (one per request
 * of 512 records, as a decoded ResourceLogs shares it) across 24 services.
 */
function logBatches(): Buffer[][] {
  const w = new RowBinaryWriter();
  const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0').slice(-len);
  const scope: ScopeContext = {
    name: 'envoy.access_loggers.open_telemetry',
    version: '',
    schemaUrl: '',
    attributes: [],
  };
  const methods = ['GET', 'GET', 'GET', 'POST', 'PUT'];
  const codes = ['200', '200', '200', '201', '404', '503'];
  const batches: Buffer[][] = [];
  const t0 = BigInt(Date.now() - 60_000) * 1_000_000n;
  for (let b = 0, i = 0; b < INSERTS; b++) {
    const chunks: Buffer[] = [];
    for (let n = 0; n < ROWS; n += 512) {
      const svc = `svc-${(i >> 9) % 24}`;
      const resource: ResourceContext = {
        serviceName: svc,
        schemaUrl: '',
        attributes: [
          'service.name',
          svc,
          'k8s.namespace.name',
          'default',
          'k8s.pod.name',
          `${svc}-7d9f8c-${hex(i, 5)}`,
          'host.name',
          `node-${i % 5}`,
        ],
      };
      for (let k = 0; k < 512; k++, i++) {
        const path = `/api/v1/items/${i % 1000}`;
        const code = codes[i % codes.length]!;
        const method = methods[i % methods.length]!;
        const rec: LogRecord = {
          resource,
          scope,
          timeNs: t0 + BigInt(i) * 100_000n,
          observedNs: 0n,
          traceId: `${hex(i * 2654435761, 16)}${hex(i * 40503, 16)}`,
          spanId: hex(i * 2246822519, 16),
          flags: 1,
          severityText: '',
          severityNumber: 0,
          body: `[2026-12-07T19:00:00.${hex(i % 1000, 3)}Z] "${method} ${path} HTTP/1.1" ${code} - 0 ${120 + (i % 900)} ${i % 40} ${i % 37} "-" "k6/0.49.0" "${hex(i, 8)}-0b1f-4c2e-9a7d-${hex(i * 7, 12)}" "${svc}:8080" "10.0.${i % 7}.${i % 200}:8080"\n`,
          attributes: [
            'http.request.method',
            method,
            'url.path',
            path,
            'http.response.status_code',
            code,
            'upstream.cluster',
            `outbound|8080||${svc}.default.svc.cluster.local`,
            'upstream.host',
            `10.0.${i % 7}.${i % 200}:8080`,
            'response.flags',
            '-',
            'duration_ms',
            String(i % 40),
            'user_agent.original',
            'k6/0.49.0',
          ],
          eventName: '',
        };
        writeLogRow(w, rec);
      }
      chunks.push(w.take());
    }
    batches.push(chunks);
  }
  return batches;
}

function threads(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const name = tid === String(process.pid) ? 'main' : comm.replace(/[0-9]+$/, '');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
    } catch {}
  }
  return out;
}
const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(b)
      .map(([k, v]): [string, number] => [k, Number((v - (a[k] ?? 0)).toFixed(2))])
      .filter(([, v]) => v > 0),
  );

async function main(): Promise<void> {
  const bodies = process.env.SHAPE === 'synthetic' ? makeSyntheticBodies() : makeSidecarBodies();
  const opts = {
    graphKeys: GRAPH_ATTRIBUTE_KEYS,
    ...spanWindow({ maxAgeDays: 7, maxFutureMs: 3_600_000 }, Date.now()),
  };
  const c = new SpanColumnsWriter();
  const batches: (SpanColumns[] | Buffer[])[] = LOGS ? logBatches() : [];
  for (let b = 0, i = 0; b < (LOGS ? 0 : INSERTS); b++) {
    const recs: SpanColumns[] = [];
    for (let n = 0; n < ROWS; i++) {
      n += decodeTracesToColumns(bodies[i % bodies.length]!, c, opts).count;
      recs.push(c.take());
    }
    batches.push(recs);
  }
  const dir = mkdtempSync(join(tmpdir(), 'chdb-cost-'));
  const storage = createStorageClient({ kind: 'embedded', path: join(dir, 'clickhouse') }, 512 * 1024 * 1024);
  try {
    const chdb = storage.embedded!.chdb;
    const q = async (sql: string): Promise<string> => (await chdb.queryAsync(sql, { format: 'TSVRaw' })).text().trim();
    await migrate(storage.client, { ttlDays: 0 });
    await tuneEmbeddedTables(storage.client);
    for (const s of (process.env.VARIANT_SQL ?? '').split(';').filter((x) => x.trim())) await q(s);
    for (const kv of (process.env.VARIANT_SETTINGS ?? '').split(',').filter((x) => x.includes('='))) {
      const [k, v] = kv.split('=');
      (EMBEDDED_INSERT_SETTINGS as Record<string, unknown>)[k!.trim()] = Number.isNaN(Number(v)) ? v : Number(v);
    }
    const writer = createRowWriter(storage, { maxPartitionsPerInsert: 100 });
    const events = async (): Promise<Map<string, number>> =>
      new Map(
        (await q('SELECT event, value FROM system.events FORMAT TSV'))
          .split('\n')
          .map((l) => l.split('\t'))
          .map(([k, v]): [string, number] => [k!, Number(v)]),
      );
    const e0 = await events();
    const t0 = threads();
    const c0 = process.cpuUsage();
    for (let r = 0; r < REPEAT; r++)
      for (const recs of batches) await writer.insert(LOGS ? 'otel_logs' : 'otel_traces', recs as Rows[], randomUUID());
    const c1 = process.cpuUsage(c0);
    const t1 = threads();
    const deadline = Date.now() + 120_000;
    for (let idle = 0; idle < 4 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 250));
      idle = (await q('SELECT count() FROM system.merges')) === '0' ? idle + 1 : 0;
    }
    const c2 = process.cpuUsage(c0);
    const t2 = threads();
    const e2 = await events();
    const rows = ROWS * INSERTS * REPEAT;
    const per100k = (u: NodeJS.CpuUsage): number => Number((((u.user + u.system) / 1e6 / rows) * 1e5).toFixed(3));
    const parts = await q(
      'SELECT table, count(), sum(rows), sum(bytes_on_disk), max(level) FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table FORMAT TSV',
    );
    const mainCpu = (t: Record<string, number>): number => t.main ?? 0;
    console.log(
      JSON.stringify({
        variant: process.env.VARIANT ?? 'base',
        rows,
        insertsPer100k: per100k(c1),
        totalPer100k: per100k(c2),
        mainThreadPer100k: Number((((mainCpu(t2) - mainCpu(t0)) / rows) * 1e5).toFixed(3)),
        insertThreads: diff(t0, t1),
        mergeThreads: diff(t1, t2),
        parts,
        load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
        // The process's resident peak (the decoded batches are held throughout, the same in every variant).
        peakRssMb: Math.round(
          Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024,
        ),
      }),
    );
    if (process.env.EVENTS)
      for (const [k, v] of e2)
        if (new RegExp(process.env.EVENTS).test(k) && v - (e0.get(k) ?? 0) > 0) console.log(k, v - (e0.get(k) ?? 0));
    if (process.env.DUMP) console.log(await q(process.env.DUMP));
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
