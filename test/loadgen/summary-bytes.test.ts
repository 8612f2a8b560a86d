// The summary's data lines as k6 prints them (go-humanize): whole bytes and rates ("816 B/s",
// never "816.3458427504652 B/s"), one decimal under ten of a unit ("1.5 kB"), none above ("17 kB").
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scriptDir } from './modules/helpers.js';

const tmp = scriptDir();
let base = '';
const server = http.createServer((req, res) => res.end('x'.repeat(req.url === '/big' ? 1500 : 20)));
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('summary data formatting', () => {
  it('prints data_sent and data_received totals and rates as k6 does', async () => {
    const script = tmp.write(
      'bytes.js',
      `import http from 'k6/http';
import { sleep } from 'k6';
export const options = { iterations: 2 };
export default function () { http.get('${base}/big'); sleep(0.3); }
`,
    );
    const r = await run({ script, quiet: false });
    expect(r.exitCode).toBe(0);
    const line = (name: string): string => r.stdout.split('\n').find((l) => l.includes(`${name}.`)) ?? '';
    const received = line('data_received');
    // Two responses of 1,500 body bytes plus heads: a few kB, rate in whole B/s or one decimal of kB/s.
    expect(received).toMatch(/: (\d\.\d) kB\s+(\d{1,3} B|\d\.\d kB)\/s$/);
    expect(line('data_sent')).toMatch(/: \d{2,3} B\s+\d{1,3} B\/s$/);
    expect(r.stdout).not.toMatch(/\d\.\d{3,} (B|kB|MB)/);
  });
});
