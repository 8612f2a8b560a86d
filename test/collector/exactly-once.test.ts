// Exactly once across crashes: a collector child process is SIGKILLed again and again while
// clients keep sending traces and logs; after the last restart every acknowledged item is
// stored once, nothing is stored twice (in the tables, in the materialized views' targets, in
// the service graph), and nothing unacknowledged appears except what was in flight at a kill.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const KILLS = 8;
const CLIENTS = 4;
const TRACES_PER_REQUEST = 20;
const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'collector-exactly-once-'));

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Child {
  child: ChildProcess;
  otlp: string;
  exited: Promise<number | null>;
}

async function startChild(): Promise<Child> {
  const child = spawn(
    process.execPath,
    [MAIN, 'collector', '--otlp-http', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const otlp = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/OTLP\/HTTP on (\S+),/);
      if (m !== null) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}: ${err}`)));
  });
  return { child, otlp, exited };
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** Traces of three spans each: frontend SERVER (root) → frontend CLIENT → catalog SERVER. */
function traceBody(first: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const at = (ms: number): string => String(now + BigInt(ms) * 1_000_000n);
  const frontend: object[] = [];
  const catalog: object[] = [];
  for (let t = first; t < first + TRACES_PER_REQUEST; t++) {
    const traceId = hex(t, 32);
    frontend.push(
      { traceId, spanId: hex(t * 4 + 1, 16), name: 'GET /', kind: 2, startTimeUnixNano: at(0), endTimeUnixNano: at(5) },
      {
        traceId,
        spanId: hex(t * 4 + 2, 16),
        parentSpanId: hex(t * 4 + 1, 16),
        name: 'GET',
        kind: 3,
        startTimeUnixNano: at(1),
        endTimeUnixNano: at(4),
      },
    );
    catalog.push({
      traceId,
      spanId: hex(t * 4 + 3, 16),
      parentSpanId: hex(t * 4 + 2, 16),
      name: 'GET /items',
      kind: 2,
      startTimeUnixNano: at(2),
      endTimeUnixNano: at(3),
    });
  }
  const rs = (service: string, spans: object[]) => ({
    resource: { attributes: [attr('service.name', service)] },
    scopeSpans: [{ spans }],
  });
  return JSON.stringify({ resourceSpans: [rs('frontend', frontend), rs('catalog', catalog)] });
}

function logBody(first: number): string {
  const now = String(BigInt(Date.now()) * 1_000_000n);
  const logRecords = Array.from({ length: TRACES_PER_REQUEST }, (_, i) => ({
    timeUnixNano: now,
    traceId: hex(first + i, 32),
    spanId: hex((first + i) * 4 + 1, 16),
    body: { stringValue: `request ${first + i}` },
  }));
  return JSON.stringify({
    resourceLogs: [{ resource: { attributes: [attr('service.name', 'frontend')] }, scopeLogs: [{ logRecords }] }],
  });
}

describe('collector child process under SIGKILL', () => {
  it('stores every acknowledged span and log exactly once, in the views and the service graph too', async () => {
    const acked = { traces: new Set<number>(), logs: new Set<number>() };
    const uncertain = { traces: new Set<number>(), logs: new Set<number>() };
    let current = await startChild();
    // Per request (its first trace id), how many kills had happened when it was sent: a
    // failure names the run that lost it.
    const sentInRun = new Map<number, number>();
    let run = 0;
    let next = 1;
    let loading = true;
    const client = async (): Promise<void> => {
      while (loading) {
        const first = next;
        next += TRACES_PER_REQUEST;
        const signal = (first / TRACES_PER_REQUEST) % 2 < 1 ? 'traces' : 'logs';
        const target = current;
        sentInRun.set(first, run);
        try {
          const res = await fetch(`${target.otlp}/v1/${signal}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: signal === 'traces' ? traceBody(first) : logBody(first),
          });
          const text = await res.text();
          if (res.status === 200 && !text.includes('partialSuccess')) acked[signal].add(first);
          else if (res.status !== 429 && res.status !== 503) throw new Error(`unexpected ${res.status}: ${text}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('unexpected')) throw err;
          // Killed while this request was in flight: it may or may not have been made durable.
          uncertain[signal].add(first);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, () => client());
    for (let k = 0; k < KILLS; k++) {
      // Under load for a while (batches are inserted every 100 ms), then killed mid-stream.
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 800));
      current.child.kill('SIGKILL');
      await current.exited;
      run++;
      current = await startChild();
    }
    await new Promise((r) => setTimeout(r, 500));
    loading = false;
    await Promise.all(clients);
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);

    const session = new Session(join(dir, 'clickhouse'));
    try {
      const one = (sql: string): number => Number(session.query(sql, 'TSV').trim());
      const ids = (sql: string): Set<number> =>
        new Set(
          session
            .query(sql, 'TSV')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => Number.parseInt(l, 16)),
        );
      const spans = one('SELECT count() FROM otel_traces');
      expect(acked.traces.size).toBeGreaterThan(KILLS);
      expect(spans).toBe(one('SELECT uniqExact(TraceId, SpanId) FROM otel_traces'));
      // Every stored request's first trace id, as the clients numbered them.
      const firsts = (set: Set<number>): Set<number> =>
        new Set([...set].map((t) => t - ((t - 1) % TRACES_PER_REQUEST)));
      const storedTraces = firsts(ids('SELECT DISTINCT TraceId FROM otel_traces'));
      for (const f of acked.traces) expect(storedTraces.has(f)).toBe(true);
      for (const f of storedTraces) expect(acked.traces.has(f) || uncertain.traces.has(f)).toBe(true);
      expect(spans).toBe(storedTraces.size * TRACES_PER_REQUEST * 3);

      const traceIds = one('SELECT uniqExact(TraceId) FROM otel_traces');
      // Requests whose trace ids the view lost, with the run (kills before it) each was sent in.
      const missed = [
        ...firsts(
          ids(
            'SELECT DISTINCT TraceId FROM otel_traces WHERE TraceId NOT IN (SELECT TraceId FROM otel_traces_trace_id_ts)',
          ),
        ),
      ].map((f) => `${f} (run ${sentInRun.get(f)}, ${acked.traces.has(f) ? 'acked' : 'uncertain'})`);
      expect(
        one('SELECT count() FROM otel_traces_trace_id_ts'),
        `requests missing from the view: ${missed.join(', ')}`,
      ).toBe(traceIds);
      expect(one('SELECT uniqExact(TraceId) FROM otel_traces_trace_id_ts')).toBe(traceIds);

      const logs = one('SELECT count() FROM otel_logs');
      expect(logs).toBe(one('SELECT uniqExact(TraceId, SpanId) FROM otel_logs'));
      const storedLogs = firsts(ids('SELECT DISTINCT TraceId FROM otel_logs'));
      for (const f of acked.logs) expect(storedLogs.has(f)).toBe(true);
      for (const f of storedLogs) expect(acked.logs.has(f) || uncertain.logs.has(f)).toBe(true);
      expect(logs).toBe(storedLogs.size * TRACES_PER_REQUEST);

      const edge = (client: string, server: string): number =>
        one(`SELECT sum(Requests) FROM otel_service_graph_1m WHERE Client = '${client}' AND Server = '${server}'`);
      expect(edge('user', 'frontend')).toBe(
        one(
          `SELECT count() FROM otel_traces WHERE ServiceName = 'frontend' AND SpanKind = 'Server' AND ParentSpanId = ''`,
        ),
      );
      expect(edge('frontend', 'catalog')).toBe(
        one(`SELECT count() FROM otel_traces WHERE ServiceName = 'catalog' AND SpanKind = 'Server'`),
      );
    } finally {
      session.close();
    }
  }, 180_000);
});
