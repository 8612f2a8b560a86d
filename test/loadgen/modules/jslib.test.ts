// The jslib.k6.io modules scripts import by URL, served built in and offline: k6-utils, httpx,
// k6-testing's expect, k6-summary's textSummary and jUnit, url. Against the fixture server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePerFile } from '../helpers.js';
import { checks, failedChecks, run } from './helpers.js';

const { server, tmp } = fixturePerFile();

describe('jslib.k6.io modules', () => {
  it('resolves k6-utils, httpx, k6-testing, k6-summary and url by URL, any version', async () => {
    const junit = path.join(tmp.dir, 'junit.xml');
    const script = tmp.write(
      'jslib.js',
      `import { check, sleep } from 'k6';
import { randomIntBetween, randomItem, randomString, uuidv4, findBetween, normalDistributionStages, getCurrentStageIndex, tagWithCurrentStageIndex } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
import { Httpx } from 'https://jslib.k6.io/httpx/0.1.0/index.js';
import { expect } from 'https://jslib.k6.io/k6-testing/0.5.0/index.js';
import { textSummary, jUnit } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';
import { URLSearchParams } from 'https://jslib.k6.io/url/1.0.0/index.js';

export const options = {
  scenarios: { ramp: { executor: 'ramping-vus', startVUs: 1, stages: [{ duration: '1s', target: 1 }], gracefulRampDown: '0s' } },
  thresholds: { checks: ['rate>0.99'], http_req_failed: ['rate<0.01'], 'http_reqs{stage:0}': ['count>=2'] },
};
const session = new Httpx({ baseURL: __ENV.BASE, headers: { 'X-From': 'httpx' }, tags: { api: 'demo' } });

export default function () {
  if (__ITER > 0) {
    sleep(0.25);
    return;
  }
  const n = randomIntBetween(3, 5);
  const stages = normalDistributionStages(10, 60, 5);
  check(null, {
    randomIntBetween: () => n >= 3 && n <= 5,
    randomItem: () => ['a', 'b'].includes(randomItem(['a', 'b'])),
    randomString: () => /^[xy]{8}$/.test(randomString(8, 'xy')) && randomString(4).length === 4,
    uuidv4: () => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuidv4()),
    findBetween: () => findBetween('<b>1</b><b>2</b>', '<b>', '</b>') === '1' && findBetween('<b>1</b><b>2</b>', '<b>', '</b>', true).join() === '1,2',
    normalDistributionStages: () => stages.length === 7 && stages[0].duration === '10s' && stages[3].target === 10 && stages[6].target === 0,
    getCurrentStageIndex: () => getCurrentStageIndex() === 0,
    url: () => new URLSearchParams({ a: '1' }).toString() === 'a=1',
  });
  tagWithCurrentStageIndex();
  const res = session.get('/headers');
  check(res.json(), { 'httpx base URL and headers': (h) => h['x-from'] === 'httpx' });
  const posted = session.post('/echo', 'body', { headers: { 'Content-Type': 'text/plain' } });
  expect(posted.status).toBe(200);
  expect(posted.body).toContain('POST body');
  expect(posted.json ? [1, 2] : []).toHaveLength(2);
  expect({ a: { b: 1 } }).toHaveProperty('a.b', 1);
  expect(posted.status).not.toBe(500);
  expect.soft(1).toBe(2);
  let hard = '';
  try { expect(posted.status, 'status check').toBeGreaterThan(300); } catch (e) { hard = String(e); }
  check(hard, { 'a failed expect throws': (h) => h.includes('status check') && h.includes('Expected: > 300') && h.includes('Received: 200') });
}

export function handleSummary(data) {
  return { stdout: textSummary(data, { indent: ' ', enableColors: false }), [__ENV.JUNIT]: jUnit(data) };
}
`,
    );
    const r = await run({ script, env: { BASE: server.base, JUNIT: junit } });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(10);
    // The soft assertion logged its failure and the iteration went on.
    expect(r.stderr).toMatch(/level=error msg="expect\(received\)\.toBe\(expected\)/);
    expect(r.stdout).toContain('http_reqs');
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuites tests="3" failures="0">');
    expect(xml).toContain('name="checks - rate&gt;0.99"');
    // Tags set by tagWithCurrentStageIndex reach the samples.
    expect(r.summary!.metrics['http_reqs{stage:0}']!.values.count).toBe(2);
  });

  it('names the supported modules for an unknown jslib URL', async () => {
    const script = tmp.write(
      'unknown.js',
      `import { x } from 'https://jslib.k6.io/nope/1.0.0/index.js';\nexport default function () {}\n`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(107);
    expect(r.stderr).toContain("unsupported module 'https://jslib.k6.io/nope/1.0.0/index.js'");
    expect(r.stderr).toContain('k6-utils');
  });

  it('runs k6chaijs: describe blocks as groups, every assertion a check, the first failure ends its block', async () => {
    const script = tmp.write(
      'chai.js',
      `import http from 'k6/http';
import { describe, expect } from 'https://jslib.k6.io/k6chaijs/4.3.4.3/index.js';
export const options = { iterations: 1 };
export default function () {
  const passed = describe('fetch json', () => {
    const res = http.get(__ENV.BASE + '/json');
    expect(res.status, 'response status').to.equal(200);
    expect(res, 'response').to.have.validJsonBody();
    expect(res.json(), 'body').to.have.property('items').that.is.an('array').with.lengthOf(3);
    expect(res.json().items).to.deep.equal([1, 2, 3]);
    expect(res.json().name).to.be.a('string').and.not.be.empty;
    expect(res.timings.duration).to.be.above(0);
    expect(res.body).to.include('meshscope');
  });
  const failed = describe('a failing block', () => {
    expect(404, 'status').to.equal(200);
    expect(1).to.equal(1);
  });
  describe('results', () => {
    expect(passed, 'first block').to.be.true;
    expect(failed, 'second block').to.be.false;
  });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    const c = checks(r);
    expect(c['expected response status to equal 200']).toEqual({ passes: 1, fails: 0 });
    expect(c["expected body to have property 'items'"]).toEqual({ passes: 1, fails: 0 });
    expect(c['expected response to have a valid JSON body']).toEqual({ passes: 1, fails: 0 });
    expect(c['expected status to equal 200']).toEqual({ passes: 0, fails: 1 });
    // The failed assertion ended its block: the one after it never ran.
    expect(c['expected 1 to equal 1']).toBeUndefined();
    expect(c['expected first block to be true']).toEqual({ passes: 1, fails: 0 });
    expect(c['expected second block to be false']).toEqual({ passes: 1, fails: 0 });
    expect(r.summary!.root_group.groups.map((g) => g.name)).toEqual(['fetch json', 'a failing block', 'results']);
    expect(failedChecks(r)).toEqual(['expected status to equal 200']);
  });

  it('serves papaparse and formdata', async () => {
    tmp.write('people.csv', 'name;age;admin\nann;31;true\n\nbob;42;false\n');
    const script = tmp.write(
      'papa.js',
      `import http from 'k6/http';
import { check } from 'k6';
import papaparse from 'https://jslib.k6.io/papaparse/5.1.1/index.js';
import { FormData } from 'https://jslib.k6.io/formdata/0.0.2/index.js';
export const options = { iterations: 1 };
const people = papaparse.parse(open('./people.csv'), { header: true, skipEmptyLines: true, dynamicTyping: true }).data;
export default function () {
  const fd = new FormData();
  fd.append('who', people[0].name);
  fd.append('doc', http.file('abc', 'a.txt', 'text/plain'));
  const res = http.post(__ENV.BASE + '/echo', fd.body(), { headers: { 'Content-Type': 'multipart/form-data; boundary=' + fd.boundary } });
  check(people, { 'papaparse header rows, guessed delimiter, types': (p) => p.length === 2 && p[1].name === 'bob' && p[1].age === 42 && p[0].admin === true });
  check(res, {
    'formdata multipart body': (r) => r.body.includes('name="who"\\r\\n\\r\\nann\\r\\n') && r.body.includes('filename="a.txt"\\r\\nContent-Type: text/plain\\r\\n\\r\\nabc\\r\\n') && r.body.includes('--' + fd.boundary + '--'),
  });
}
`,
    );
    const r = await run({ script, env: { BASE: server.base } });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(2);
  });
});
