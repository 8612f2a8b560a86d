// Walks generated dashboard JSON (what Grafana loads) and lists every ClickHouse query in it —
// panel targets, template-variable queries and the queries stored in trace data links — with
// what its panel needs back, and checks result frames against those needs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface DashboardQuery {
  board: string;
  panel: string;
  panelType: string;
  refId: string;
  queryType: string;
  rawSql: string;
  /** Link queries take the clicked cell's value; this names the column it comes from. */
  linkFrom?: { refId: string; field: string };
}

export interface Frame {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Record<string, unknown>>;
}

interface Target {
  refId?: string;
  queryType?: string;
  rawSql?: string;
  datasource?: { type?: string };
}
interface Override {
  matcher: { options?: unknown };
  properties: Array<{ id: string; value?: unknown }>;
}
interface Panel {
  type: string;
  title?: string;
  targets?: Target[];
  fieldConfig?: { overrides?: Override[] };
}
interface Board {
  title: string;
  panels?: Panel[];
  templating?: { list?: Array<{ name: string; query?: unknown }> };
}

const CLICKHOUSE = 'grafana-clickhouse-datasource';

export function loadGeneratedBoards(dir: string): Board[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Board);
}

export function clickhouseQueries(boards: Board[]): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const board of boards) {
    for (const v of board.templating?.list ?? []) {
      const q = v.query as Target | undefined;
      if (typeof q === 'object' && q !== null && typeof q.rawSql === 'string') {
        out.push({
          board: board.title,
          panel: `variable ${v.name}`,
          panelType: 'variable',
          refId: v.name,
          queryType: 'table',
          rawSql: q.rawSql,
        });
      }
    }
    for (const panel of board.panels ?? []) {
      const title = panel.title ?? panel.type;
      for (const t of panel.targets ?? []) {
        if (t.datasource?.type !== CLICKHOUSE || t.rawSql === undefined) continue;
        out.push({
          board: board.title,
          panel: title,
          panelType: panel.type,
          refId: t.refId ?? 'A',
          queryType: t.queryType ?? 'table',
          rawSql: t.rawSql,
        });
      }
      for (const o of panel.fieldConfig?.overrides ?? []) {
        for (const p of o.properties) {
          if (p.id !== 'links' || !Array.isArray(p.value)) continue;
          for (const link of p.value as Array<{ title?: string; internal?: { query?: Target } }>) {
            const q = link.internal?.query;
            if (q?.rawSql === undefined) continue;
            out.push({
              board: board.title,
              panel: `${title} → ${link.title ?? 'link'}`,
              panelType: q.queryType === 'traces' ? 'traces' : 'table',
              refId: q.refId ?? 'A',
              queryType: q.queryType ?? 'table',
              rawSql: q.rawSql,
              linkFrom: { refId: panel.targets?.[0]?.refId ?? 'A', field: String(o.matcher.options) },
            });
          }
        }
      }
    }
  }
  return out;
}

const isTime = (type: string): boolean => /^(Nullable\()?DateTime/.test(type);
const isNumber = (type: string): boolean => /^(Nullable\()?(U?Int|Float|Decimal)/.test(type);

function need(frame: Frame, names: string[]): string[] {
  const have = new Set(frame.columns.map((c) => c.name));
  return names.filter((n) => !have.has(n)).map((n) => `missing field ${n}`);
}

/** Problems with a result frame for the panel that shows it; empty when the panel can draw it. */
export function frameProblems(q: DashboardQuery, frame: Frame): string[] {
  const problems: string[] = [];
  if (frame.rows.length === 0) problems.push('no rows');
  if (q.panelType === 'nodeGraph' && q.refId === 'nodes') {
    problems.push(...need(frame, ['id', 'title', 'mainstat', 'secondarystat', 'arc__success', 'arc__errors']));
    for (const r of frame.rows) {
      const sum = Number(r['arc__success']) + Number(r['arc__errors']);
      if (Math.abs(sum - 1) > 1e-6) problems.push(`node ${String(r['id'])}: arcs sum to ${sum}, not 1`);
    }
  } else if (q.panelType === 'nodeGraph' && q.refId === 'edges') {
    problems.push(...need(frame, ['id', 'source', 'target', 'mainstat', 'secondarystat']));
  } else if (q.queryType === 'timeseries') {
    if (!frame.columns.some((c) => isTime(c.type))) problems.push('no time field');
    if (!frame.columns.some((c) => isNumber(c.type))) problems.push('no numeric field');
  } else if (q.queryType === 'traces') {
    problems.push(
      ...need(frame, [
        'traceID',
        'spanID',
        'parentSpanID',
        'serviceName',
        'operationName',
        'startTime',
        'duration',
        'tags',
        'serviceTags',
      ]),
    );
    if (new Set(frame.rows.map((r) => r['traceID'])).size > 1) problems.push('spans of more than one trace');
  } else if (q.queryType === 'logs') {
    const time = frame.columns.find((c) => c.name === 'timestamp');
    if (time === undefined || !isTime(time.type)) problems.push('no timestamp time field');
    problems.push(...need(frame, ['body', 'level', 'traceID']));
  }
  return problems;
}
