// node:tls (with node:crypto's TLS half under it) is loaded when the first TLS context or TLS
// socket is built, not at start-up: the core always imports the TLS transport socket's module
// (the worker asks `instanceof` of its factories, config validation checks TLS contexts), but a
// proxy whose configuration names no `envoy.transport_sockets.tls` would otherwise carry it in
// its heap for nothing (about 0.7 MB of RSS, measured with `npm run bench:proxy`).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let loaded: typeof import('node:tls') | null = null;

export function nodeTls(): typeof import('node:tls') {
  loaded ??= require('node:tls') as typeof import('node:tls');
  return loaded;
}
