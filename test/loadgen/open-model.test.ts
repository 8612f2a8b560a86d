// Coordinated omission: against a server that stalls once for 1 s, an arrival-rate run's
// http_req_duration (measured from each iteration's scheduled start) shows the stall at p99, while
// http_req_duration_uncorrected (from the actual send) hides it in all but its max.
import { expect, it } from 'vitest';
import { fixturePerFile, metricValue, run } from './helpers.js';

const { server, tmp } = fixturePerFile(['--stall-at', '800', '--stall-for', '1000']);

it('corrected p99 shows a 1 s stall; the uncorrected figure is reported beside it', async () => {
  const script = tmp.write(
    'stall.js',
    `import http from 'k6/http';
export const options = {
  scenarios: { open: { executor: 'constant-arrival-rate', rate: 100, timeUnit: '1s', duration: '3s', preAllocatedVUs: 1, maxVUs: 1 } },
  summaryTrendStats: ['med', 'p(99)', 'max'],
};
export default function () { http.get(__ENV.BASE + '/hello'); }
`,
  );
  const r = await run({ script, env: { BASE: server.base } });
  expect(r.exitCode).toBe(0);
  const corrected = metricValue(r, 'http_req_duration', 'p(99)');
  const uncorrected = metricValue(r, 'http_req_duration_uncorrected', 'p(99)');
  expect(corrected).toBeGreaterThan(500);
  expect(uncorrected).toBeLessThan(200);
  expect(metricValue(r, 'http_req_duration_uncorrected', 'max')).toBeGreaterThan(800);
  // Every scheduled iteration is accounted for, and most ran: the stall delayed them instead of
  // dropping them (only the overflow of the one-second backlog is dropped).
  const ran = metricValue(r, 'iterations', 'count');
  const dropped = r.summary!.metrics.dropped_iterations?.values.count ?? 0;
  expect(ran + dropped).toBe(300);
  expect(ran).toBeGreaterThan(250);
  expect(r.stdout).toMatch(/http_req_duration_uncorrected/);
  // The slowest requests, with their trace ids, are the stalled ones.
  const slowest = r.summary!.slowest_requests;
  expect(slowest[0]!.duration).toBeGreaterThan(800);
  expect(slowest[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
});
