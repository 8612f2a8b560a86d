// The committed dashboard JSON is what `npm run dashboards:build` writes from dashboards/src,
// and the provisioning files point Grafana at the same datasources and directory.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { boards, clickhouse, prometheus, renderBoard } from '../../dashboards/src/index.js';

const root = process.cwd();
const generated = join(root, 'dashboards', 'generated');

describe('dashboards as code', () => {
  for (const board of boards) {
    it(`dashboards/generated/${board.file} is up to date (run npm run dashboards:build)`, () => {
      expect(readFileSync(join(generated, board.file), 'utf8')).toBe(renderBoard(board.build()));
    });
  }

  it('generated/ holds exactly the boards built from src/', () => {
    expect(readdirSync(generated).sort()).toEqual(boards.map((b) => b.file).sort());
  });

  it('every board has a unique uid and every datasource it references is provisioned', () => {
    const provisioned = parse(
      readFileSync(join(root, 'dashboards', 'provisioning', 'datasources', 'meshscope.yaml'), 'utf8'),
    ) as {
      datasources: Array<{ uid: string; type: string; jsonData: Record<string, unknown> }>;
    };
    const byUid = new Map(provisioned.datasources.map((d) => [d.uid, d]));
    expect(byUid.get(clickhouse.uid!)?.type).toBe(clickhouse.type);
    expect(byUid.get(prometheus.uid!)?.type).toBe(prometheus.type);
    expect(byUid.get(clickhouse.uid!)?.jsonData).toMatchObject({
      traces: { otelEnabled: true, defaultTable: 'otel_traces' },
      logs: { otelEnabled: true, defaultTable: 'otel_logs' },
    });

    const uids = boards.map((b) => b.build().uid);
    expect(new Set(uids).size).toBe(uids.length);
    const referenced = new Set<string>();
    for (const b of boards)
      JSON.stringify(b.build(), (key, value: unknown) => {
        if (key === 'datasource' && typeof value === 'object' && value !== null && 'uid' in value)
          referenced.add(String((value as { uid: unknown }).uid));
        if (key === 'datasourceUid') referenced.add(String(value));
        return value;
      });
    expect([...referenced].filter((u) => !byUid.has(u))).toEqual([]);
  });
});
