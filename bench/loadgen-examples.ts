// loadgen-examples — runs every k6 script of a directory (k6's own examples, documentation code
// blocks: kept outside the repository, they are k6's) with `meshscope load run <script> --duration
// 3s --vus 2` against bench/loadgen-lookalike.ts, and reports each script's exit code, wall time
// and whether it hung (still running after --timeout seconds, then killed). The public test
// hosts those scripts call (quickpizza.grafana.com, httpbin.org, test.k6.io, test-api.k6.io, the
// WebSocket echoes) are pointed at the lookalike in a copy of each script (credentials in the URL
// kept); nothing else changes.
//
//   npm run build && npx esbuild bench/loadgen-examples.ts --bundle --platform=node --format=esm \
//     --packages=external --outfile=dist/bench/loadgen-examples.js && \
//     node dist/bench/loadgen-examples.js --dir /tmp/k6-examples [--timeout 60] [--jobs 2] [--only name] [--cli path/to/main.js]
//
// Browser scripts (importing k6/browser, k6/experimental/browser or k6/x/browser) are listed
// apart, not run. Prints one JSON object: per-script results and totals (exit 0, hung, other
// codes).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLookalike } from './loadgen-lookalike.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
// --cli runs another build (a baseline worktree's dist/cli/main.js).
const CLI = path.resolve(argValue('--cli') ?? path.join(root, 'dist/cli/main.js'));
const DIR = argValue('--dir');
const TIMEOUT_S = Number(argValue('--timeout') ?? 60);
const JOBS = Number(argValue('--jobs') ?? 2);
const ONLY = argValue('--only');
if (DIR === undefined) {
  process.stderr.write('usage: loadgen-examples --dir DIR [--timeout S] [--jobs N] [--only SUBSTRING]\n');
  process.exit(2);
}

const HOSTS =
  /\b(https?|wss?):\/\/([^\s/@'"`]+@)?(?:quickpizza\.grafana\.com|test\.k6\.io|test-api\.k6\.io|httpbin\.test\.k6\.io|httpbin\.org|pizza\.grafana\.fun|echo\.websocket\.org|ws\.ifelse\.io|test-ws\.k6\.io)(?::\d+)?/g;

function scripts(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !/\.(?:js|ts|mjs)$/.test(e.name)) continue;
    out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

interface Result {
  readonly script: string;
  readonly exitCode: number | null;
  readonly hung: boolean;
  readonly seconds: number;
  readonly lastError: string;
}

function runOne(file: string, port: number, work: string): Promise<Result> {
  const rel = path.relative(DIR as string, file);
  // The copy sits at the same relative place, so relative imports and open() of the script's
  // neighbours (copied along) still resolve.
  const copy = path.join(work, rel);
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(
      HOSTS,
      (_m, scheme: string, userinfo: string | undefined) =>
        `${scheme.startsWith('ws') ? 'ws' : 'http'}://${userinfo ?? ''}127.0.0.1:${port}`,
    );
  fs.writeFileSync(copy, text);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'load', 'run', copy, '--duration', '3s', '--vus', '2'], {
      cwd: path.dirname(copy),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (b: Buffer): void => {
      tail = (tail + b.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, TIMEOUT_S * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const errors = tail.split('\n').filter((l) => /level=error|ERROR|Error:/.test(l));
      resolve({
        script: rel,
        exitCode: code,
        hung,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
        lastError: (errors.at(-1) ?? '').slice(0, 300),
      });
    });
  });
}

const all = scripts(DIR).filter((f) => ONLY === undefined || f.includes(ONLY));
const browser = all.filter((f) => /from\s+['"]k6\/(?:x\/|experimental\/)?browser['"]/.test(fs.readFileSync(f, 'utf8')));
const toRun = all.filter((f) => !browser.includes(f));
// The copies live in work/<DIR's name>, and DIR's siblings are linked beside it: a script that
// reaches out of its folder (k6's gRPC examples load ../internal/lib/testutils/…/route_guide.proto
// in a k6 checkout) finds the same files as in place.
const workRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'meshscope-k6-examples-'));
const work = path.join(workRoot, path.basename(path.resolve(DIR)));
fs.cpSync(DIR, work, { recursive: true });
const parent = path.dirname(path.resolve(DIR));
for (const sibling of fs.readdirSync(parent)) {
  if (sibling !== path.basename(work)) fs.symlinkSync(path.join(parent, sibling), path.join(workRoot, sibling));
}
const lookalike = await startLookalike();
const results: Result[] = [];
let next = 0;
await Promise.all(
  Array.from({ length: JOBS }, async () => {
    while (next < toRun.length) {
      const file = toRun[next++] as string;
      const r = await runOne(file, lookalike.port, work);
      process.stderr.write(`${r.hung ? 'HUNG' : `exit ${r.exitCode}`}\t${r.seconds}s\t${r.script}\t${r.lastError}\n`);
      results.push(r);
    }
  }),
);
await lookalike.close();
fs.rmSync(workRoot, { recursive: true, force: true });
results.sort((a, b) => a.script.localeCompare(b.script));
const byCode: Record<string, number> = {};
for (const r of results) {
  const k = r.hung ? 'hung' : String(r.exitCode);
  byCode[k] = (byCode[k] ?? 0) + 1;
}
process.stdout.write(
  `${JSON.stringify(
    {
      scripts: results.length,
      browser_skipped: browser.length,
      exit_0: byCode['0'] ?? 0,
      hung: byCode.hung ?? 0,
      by_exit_code: byCode,
      results,
    },
    null,
    2,
  )}\n`,
);
