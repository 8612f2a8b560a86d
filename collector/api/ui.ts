// The web UI's files: a bundle built by `npm run build` (esbuild, collector/ui/ → dist/collector/ui/),
// served from memory with no CDN. Every UI path (/, /topology, /traces, /trace/<id>, /latency,
// /logs) answers the same page, which routes on the client, so a deep link works when pasted.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundle's files: index.html, app.js, app.css and esbuild's chunks (never build.js, which makes them). */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const BUNDLE_FILE = /^(?:index\.html|app\.js|app\.css|chunk-[A-Za-z0-9]+\.(?:js|css))$/;

/** Client-routed pages: each answers index.html. */
const PAGES = /^\/(?:|topology|traces|trace\/[0-9a-fA-F]{1,32}|latency|logs)$/;

export interface UiAsset {
  type: string;
  body: Buffer;
}

export class UiFiles {
  readonly #assets = new Map<string, UiAsset>();
  /** Where the bundle was looked for, for the 404 that says it is missing. */
  readonly searched: readonly string[];

  constructor(dirs: readonly string[] = defaultUiDirs()) {
    this.searched = dirs;
    const dir = dirs.find((d) => existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.js')));
    if (dir === undefined) return;
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type !== undefined && BUNDLE_FILE.test(name)) {
        this.#assets.set(`/ui/${name}`, { type, body: readFileSync(join(dir, name)) });
      }
    }
  }

  get available(): boolean {
    return this.#assets.has('/ui/index.html');
  }

  /** The asset for a path, undefined when the path is not the UI's. */
  lookup(pathname: string): UiAsset | undefined {
    if (PAGES.test(pathname)) return this.#assets.get('/ui/index.html');
    return pathname === '/ui/index.html' ? undefined : this.#assets.get(pathname);
  }

  isUiPath(pathname: string): boolean {
    return PAGES.test(pathname) || pathname.startsWith('/ui/');
  }
}

/** The bundle beside the compiled collector (dist/collector/ui), or dist's when run from sources. */
function defaultUiDirs(): string[] {
  return [
    fileURLToPath(new URL('../ui/', import.meta.url)),
    fileURLToPath(new URL('../../dist/collector/ui/', import.meta.url)),
  ];
}
