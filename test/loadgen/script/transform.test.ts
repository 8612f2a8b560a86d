// The sync-to-async transform: only functions that reach a blocking k6 call become async, their
// calls are awaited, callbacks that never block stay synchronous, line numbers are preserved.
import { describe, expect, it } from 'vitest';
import { transformScript, TransformError } from '../../../loadgen/script/transform.js';

const src = `import http from "k6/http";
import { check, sleep, group } from "k6";
var options = { vus: 1 };
function login(u) { return http.get(u + "/login"); }
const helper = { doIt() { return login("x"); } };
function pure(a) { return a * 2; }
function src_default() {
  const r = login(__ENV.BASE);
  check(r, { ok: (r) => r.status === 200 });
  const doubled = [1, 2].map((x) => pure(x));
  group("g", function () { helper.doIt(); });
  sleep(__ITER);
}
export { options, src_default as default };
`;

describe('transformScript', () => {
  const out = transformScript(src, 'bundle.js').code;

  it('makes functions that reach blocking calls async and awaits those calls', () => {
    expect(out).toContain('async function login(u) { return (await http.get(u + "/login")); }');
    expect(out).toContain('async doIt() { return (await login("x")); }');
    expect(out).toContain('async function src_default()');
    expect(out).toContain('(await group("g", async function () { (await helper.doIt()); }))');
    expect(out).toContain('(await sleep(__ms_ctx.iter))');
  });

  it('leaves non-blocking functions and callbacks synchronous', () => {
    expect(out).toContain('function pure(a) { return a * 2; }');
    expect(out).not.toContain('async function pure');
    expect(out).toContain('check(r, { ok: (r) => r.status === 200 })');
    expect(out).toContain('[1, 2].map((x) => pure(x))');
  });

  it('rewrites k6 imports, exports and the per-VU globals', () => {
    expect(out).toContain('const { default: http } = __ms_require("k6/http");');
    expect(out).toContain('__ms_exports["default"] = src_default;');
    expect(out).toContain('__ms_ctx.env.BASE');
  });

  it('keeps every line on its line', () => {
    const lines = out.split('\n');
    expect(lines[3]).toContain('async function login');
    expect(lines[7]).toContain('const r = (await login(__ms_ctx.env.BASE));');
  });

  it('refuses modules it does not provide, naming them', () => {
    expect(() => transformScript('import { browser } from "k6/browser";\n', 'b.js')).toThrow(TransformError);
    expect(() => transformScript('import { browser } from "k6/browser";\n', 'b.js')).toThrow(
      /unsupported module 'k6\/browser'/,
    );
  });
});

describe('array callbacks that block', () => {
  const code = transformScript(
    `import http from "k6/http";
function f(urls) {
  urls.forEach((u) => http.get(u));
  const codes = urls.map((u) => http.get(u).status);
  const lengths = urls.map((u) => u.length);
  return codes;
}
export { f as default };
`,
    'b.js',
  ).code;

  it('run one after another through the sequential helpers', () => {
    expect(code).toContain('(await __ms_array.forEach(urls, async (u) => (await http.get(u))))');
    expect(code).toContain('(await __ms_array.map(urls, async (u) => (await http.get(u)).status))');
  });

  it('leave non-blocking callbacks on the native methods', () => {
    expect(code).toContain('urls.map((u) => u.length)');
  });
});

describe('indirect calls', () => {
  it('awaits fn.call() and fn.apply() of functions that block', () => {
    const code = transformScript(
      `import http from "k6/http";
function login(u) { return http.get(u); }
function main() { login.call(null, "a"); api.fetch.apply(api, ["b"]); }
const api = { fetch(u) { return http.get(u); } };
export { main as default };
`,
      'b.js',
    ).code;
    expect(code).toContain('(await login.call(null, "a"))');
    expect(code).toContain('(await api.fetch.apply(api, ["b"]))');
    expect(code).toContain('async function main()');
  });
});

describe('blocking methods of module classes', () => {
  const code = transformScript(
    `import { Httpx } from "https://jslib.k6.io/httpx/0.1.0/index.js";
import grpc from "k6/net/grpc";
const session = new Httpx({ baseURL: "http://x" });
const client = new grpc.Client();
const ranks = new Map([["a", 1]]);
function fetchAll() { return session.get("/a"); }
function call() { client.connect("x:1"); return client.invoke("s/M", {}); }
function order(xs) { return xs.sort((a, b) => ranks.get(a) - ranks.get(b)); }
export { fetchAll, call, order };
`,
    'c.js',
  ).code;

  it('awaits them on variables holding `new Class()` of the module', () => {
    expect(code).toContain('async function fetchAll() { return (await session.get("/a")); }');
    expect(code).toContain('(await client.connect("x:1"))');
    expect(code).toContain('(await client.invoke("s/M", {}))');
  });

  it('leaves methods of the same name on other objects alone', () => {
    expect(code).toContain('function order(xs) { return xs.sort((a, b) => ranks.get(a) - ranks.get(b)); }');
    expect(code).not.toContain('async function order');
  });
});

describe('names stored on globalThis', () => {
  const code = transformScript(
    `globalThis.count = 0;
globalThis['label'] = "a";
function f(obj) { count++; obj.count = count; return { count, label, n: typeof count }; }
globalThis.other = 1;
const used = (other) => other;
export { f as default };
`,
    'g.js',
    ['globalThis'],
  ).code;

  it("read the VU's global object where the script uses them bare", () => {
    expect(code).toContain('globalThis.count++; obj.count = globalThis.count;');
    expect(code).toContain('return { count: globalThis.count, label: globalThis.label, n: typeof globalThis.count }');
  });

  it('leave stores, properties and names the script declares anywhere alone', () => {
    expect(code).toContain('globalThis.count = 0;');
    expect(code).toContain('const used = (other) => other;');
  });
});
