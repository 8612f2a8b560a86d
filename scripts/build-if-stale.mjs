#!/usr/bin/env node
// `npm start` runs this first: it builds only when a source is newer than the last build it
// made (dist/.build-stamp), so a second start goes straight to `meshscope up` instead of
// spending ~20 s in the TypeScript compiler. Plain JavaScript: it runs before dist/ exists.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['cli', 'proxy', 'control-plane', 'collector', 'loadgen', 'dashboards/src', 'examples', 'up'];
const FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
const STAMP = 'dist/.build-stamp';

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let latest = st.mtimeMs; // a deleted or renamed file changes its directory's mtime
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const sourcesChanged = Math.max(...SOURCES.map(newest), ...FILES.map(newest));
const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
if (sourcesChanged < built) {
  process.stdout.write('meshscope: dist/ is current, skipping the build\n');
} else {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}
