// What the script transform needs to know about each k6 module, without loading any of them:
// its import name, the remote URLs that resolve to it (jslib.k6.io modules are served built in,
// offline), and which of its calls block in k6 (the transform awaits those). The factories that
// build a module for a VU live in ./index.ts; adding a module is one entry here and one there.

export interface ModuleEntry {
  /** The import specifier a script uses ('k6/html'), or the built-in name of a jslib module. */
  readonly name: string;
  /** Remote module URLs that resolve to this module (jslib.k6.io, any version). */
  readonly urls?: RegExp;
  /** Exported functions that block in k6: `http.get(...)`, `get(...)` after a named import. */
  readonly blocking?: readonly string[];
  /**
   * Methods of objects this module hands out that block in k6, by names no other object is likely
   * to have (`res.submitForm()`): when a script imports the module, any call of a method by that
   * name is awaited. Awaiting a method that turns out not to block only costs a microtask.
   */
  readonly blockingMethods?: readonly string[];
  /**
   * Blocking methods of the module's classes, by class: awaited on variables the script assigns
   * `new Class(...)` to (`const client = new grpc.Client(); client.invoke(...)`). Common names
   * (`get`, `connect`) stay bound to those variables, so `map.get(k)` elsewhere is untouched.
   */
  readonly blockingInstanceMethods?: Readonly<Record<string, readonly string[]>>;
}

const jslib = (path: string): RegExp =>
  new RegExp(`^https://jslib\\.k6\\.io/${path}/[^/]+/(?:index|dist/index)\\.(?:min\\.)?js$`);

export const MODULES: readonly ModuleEntry[] = [
  { name: 'k6', blocking: ['sleep', 'group'] },
  {
    name: 'k6/http',
    blocking: ['get', 'post', 'put', 'patch', 'del', 'head', 'options', 'request', 'batch'],
    blockingMethods: ['submitForm', 'clickLink'],
  },
  { name: 'k6/metrics' },
  { name: 'k6/execution' },
  { name: 'k6/data' },
  { name: 'k6/encoding' },
  { name: 'k6/html' },
  { name: 'k6/crypto' },
  { name: 'k6/net/grpc', blockingInstanceMethods: { Client: ['connect', 'invoke', 'healthCheck'] } },
  { name: 'k6/experimental/grpc', blockingInstanceMethods: { Client: ['connect', 'invoke', 'healthCheck'] } },
  { name: 'k6/ws', blocking: ['connect'] },
  { name: 'k6/websockets' },
  { name: 'k6/experimental/websockets' },
  { name: 'k6/timers' },
  { name: 'k6/experimental/fs' },
  { name: 'k6/experimental/csv' },
  { name: 'k6/experimental/streams' },
  { name: 'k6/experimental/webcrypto' },
  { name: 'k6/experimental/encoding' },
  {
    name: 'k6/experimental/tracing',
    blockingInstanceMethods: {
      Client: ['get', 'head', 'options', 'post', 'put', 'patch', 'del', 'request', 'batch'],
    },
  },
  { name: 'k6/secrets' },
  { name: 'jslib/k6-utils', urls: jslib('k6-utils') },
  {
    name: 'jslib/httpx',
    urls: jslib('httpx'),
    blockingInstanceMethods: {
      Httpx: ['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'request', 'batch'],
    },
  },
  { name: 'jslib/k6-summary', urls: jslib('k6-summary') },
  { name: 'jslib/k6-testing', urls: jslib('k6-testing') },
  { name: 'jslib/url', urls: jslib('url') },
  { name: 'jslib/papaparse', urls: jslib('papaparse') },
  { name: 'jslib/formdata', urls: jslib('formdata') },
  { name: 'jslib/totp', urls: jslib('totp') },
  // describe() runs its callback as a group, which may block.
  { name: 'jslib/k6chaijs', urls: jslib('k6chaijs'), blocking: ['describe'] },
];

const byName = new Map(MODULES.map((m) => [m.name, m]));

/** The module a specifier names: a k6 module by name, or a jslib URL; undefined when unknown. */
export function resolveModule(specifier: string): ModuleEntry | undefined {
  const named = byName.get(specifier);
  if (named !== undefined) return named;
  if (specifier.startsWith('https://')) return MODULES.find((m) => m.urls?.test(specifier));
  return undefined;
}

/** The module names a script may import directly (for error messages and the bundler's externals). */
export const MODULE_NAMES: readonly string[] = MODULES.filter((m) => !m.name.startsWith('jslib/')).map((m) => m.name);
