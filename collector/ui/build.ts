// Bundles the web UI (collector/ui/src, cytoscape and uplot included) into dist/collector/ui:
// app.js, app.css and index.html, which the collector serves from memory. Run by `npm run build`
// after tsc; nothing is fetched from a CDN, so the UI works offline.

import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository root: this file runs as dist/collector/ui/build.js. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const out = join(root, 'dist/collector/ui');

mkdirSync(out, { recursive: true });
// Chunk names carry content hashes: the last build's would otherwise stay and be served.
for (const name of readdirSync(out)) if (name.startsWith('chunk-')) rmSync(join(out, name));
await build({
  entryPoints: { app: join(root, 'collector/ui/src/main.ts') },
  bundle: true,
  format: 'esm',
  // cytoscape and uplot load with the first view that draws with them.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(join(root, 'collector/ui/index.html'), join(out, 'index.html'));
