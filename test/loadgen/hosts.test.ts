// k6's `hosts` option: requests to a name go to the address it maps to (exact names first, then
// *.domain), while the Host header keeps the name the script used; a malformed entry is refused
// with exit 104 naming it.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checks, failedChecks, run, scriptDir } from './modules/helpers.js';

const tmp = scriptDir();
let port = 0;
const server = http.createServer((req, res) => res.end(`${req.headers.host} ${req.url}`));
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('options.hosts', () => {
  it('sends requests for mapped names to the mapped address, Host header unchanged', async () => {
    const script = tmp.write(
      'hosts.js',
      `import http from 'k6/http';
import { check } from 'k6';
export const options = {
  iterations: 1,
  hosts: { 'test.k6.io': '127.0.0.1:${port}', '*.quickpizza.test': '127.0.0.1:${port}' },
};
export default function () {
  const exact = http.get('http://test.k6.io/a?x=1');
  const wild = http.get('http://api.quickpizza.test:8080/b');
  const unmapped = http.get('http://127.0.0.1:${port}/c');
  check(null, {
    'exact name mapped': () => exact.status === 200 && exact.body === 'test.k6.io /a?x=1',
    'wildcard mapped, Host keeps the port asked for': () => wild.body === 'api.quickpizza.test:8080 /b',
    'other names untouched': () => unmapped.body === '127.0.0.1:${port} /c',
  });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r))).toHaveLength(3);
  });

  it('refuses a malformed entry with exit 104, naming it', async () => {
    const script = tmp.write(
      'badhosts.js',
      `export const options = { iterations: 1, hosts: { 'test.k6.io': 'http://127.0.0.1/' } };
export default function () {}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(104);
    expect(r.stderr).toContain('hosts.test.k6.io');
    expect(r.stderr).toContain("use 'ip', 'ip:port' or 'host:port'");
  });
});
