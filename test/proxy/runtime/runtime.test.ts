import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LayeredRuntime,
  RuntimeConfigError,
  RuntimeReplica,
  parseLayeredRuntime,
  registerRuntimeAdminHandlers,
  snapshotToWire,
  type RuntimeSnapshot,
} from '../../../proxy/runtime/index.js';
import type { AdminHandler, AdminHandlerRegistry, AdminResponse } from '../../../proxy/admin/types.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-runtime-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a runtime tree into a fresh version directory and swaps `current` to it atomically. */
async function publishVersion(root: string, version: string, files: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(files)) {
    const path = join(root, version, 'envoy', ...key.split('.'));
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, value);
  }
  const tmpLink = join(root, `current.${version}.tmp`);
  await symlink(join(root, version), tmpLink);
  await rename(tmpLink, join(root, 'current'));
}

function waitForSnapshot(
  runtime: LayeredRuntime,
  predicate: (s: RuntimeSnapshot) => boolean,
): Promise<RuntimeSnapshot> {
  if (predicate(runtime.snapshot())) return Promise.resolve(runtime.snapshot());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('runtime did not pick up the change')), 10_000);
    const unsubscribe = runtime.subscribe((s) => {
      if (!predicate(s)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(s);
    });
  });
}

describe('layered_runtime config', () => {
  it('reports every invalid field with its full path at once', () => {
    let error: unknown;
    try {
      parseLayeredRuntime({
        layers: [
          { name: 'a', static_layer: { ok: 1, bad: null, nested: { list: [1] } } },
          { name: 'a', disk_layer: { subdirectory: 'x', bogus: 1 } },
          { name: 'c' },
          { name: 'd', admin_layer: {} },
          { name: 'e', admin_layer: {} },
        ],
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RuntimeConfigError);
    const issues = (error as RuntimeConfigError).issues;
    expect((error as RuntimeConfigError).code).toBe('MS_ERR_RUNTIME_CONFIG');
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^layered_runtime\.layers\[0\]\.static_layer\.bad: invalid runtime entry value/),
        expect.stringMatching(/^layered_runtime\.layers\[0\]\.static_layer\.nested\.list: invalid runtime entry value/),
        'layered_runtime.layers[1].disk_layer.bogus: unknown field',
        "layered_runtime.layers[1].name: duplicate layer name 'a'",
        'layered_runtime.layers[1].disk_layer.symlink_root: required',
        expect.stringMatching(
          /^layered_runtime\.layers\[2\]: exactly one of static_layer, disk_layer, admin_layer is required/,
        ),
        expect.stringMatching(/^layered_runtime\.layers\[4\]\.admin_layer: at most one admin layer/),
      ]),
    );
    expect(issues.length).toBe(7);
  });

  it('defaults to a static layer followed by an admin layer', () => {
    expect(parseLayeredRuntime(undefined).layers.map((l) => l.name)).toEqual(['base', 'admin']);
  });
});

describe('runtime snapshot', () => {
  it('types static values as Envoy does and lets later layers win', async () => {
    const runtime = await LayeredRuntime.create(
      parseLayeredRuntime({
        layers: [
          {
            name: 'static',
            static_layer: {
              health_check: { min_interval: 5 },
              ratio: 2.7,
              on: true,
              words: 'hello',
              frac: { numerator: 25, denominator: 'TEN_THOUSAND' },
              overridden: 1,
            },
          },
          { name: 'admin', admin_layer: {} },
        ],
      }),
    );
    cleanups.push(() => runtime.close());
    const s = runtime.snapshot();
    expect(s.getInteger('health_check.min_interval', 0)).toBe(5);
    expect(s.getInteger('ratio', 0)).toBe(2);
    expect(s.getDouble('ratio', 0)).toBe(2.7);
    expect(s.getBoolean('on', false)).toBe(true);
    expect(s.getBoolean('health_check.min_interval', false)).toBe(true);
    expect(s.getInteger('words', 7)).toBe(7);
    expect(s.get('words')).toBe('hello');
    // 25 / 10000: draws below 25 (mod 10000) are enabled.
    expect(s.fractionEnabled('frac', { numerator: 0, denominator: 'HUNDRED' }, 24)).toBe(true);
    expect(s.fractionEnabled('frac', { numerator: 0, denominator: 'HUNDRED' }, 25)).toBe(false);
    // An integer under a fraction key is a percentage; a missing key uses the default.
    expect(s.fractionEnabled('overridden', { numerator: 0, denominator: 'HUNDRED' }, 0)).toBe(true);
    expect(s.fractionEnabled('overridden', { numerator: 0, denominator: 'HUNDRED' }, 1)).toBe(false);
    expect(s.fractionEnabled('absent', { numerator: 50, denominator: 'HUNDRED' }, 49)).toBe(true);
    expect(s.featureEnabled('absent', 0)).toBe(false);
    expect(s.featureEnabled('absent', 100)).toBe(true);

    runtime.mergeValues([
      ['overridden', '80'],
      ['frac', ''],
    ]);
    const after = runtime.snapshot();
    expect(after).not.toBe(s);
    expect(after.getInteger('overridden', 0)).toBe(80);
    // An empty admin value removes only the admin override; the static value shows again.
    expect(after.fractionEnabled('frac', { numerator: 0, denominator: 'HUNDRED' }, 24)).toBe(true);
    expect(s.getInteger('overridden', 0)).toBe(1);
  });

  it('travels to a worker replica as plain data', async () => {
    const runtime = await LayeredRuntime.create(
      parseLayeredRuntime({
        layers: [
          { name: 's', static_layer: { a: { b: 3 }, f: { numerator: 1 } } },
          { name: 'admin', admin_layer: {} },
        ],
      }),
    );
    cleanups.push(() => runtime.close());
    const replica = new RuntimeReplica();
    runtime.subscribe((s) => replica.apply(structuredClone(snapshotToWire(s))));
    runtime.mergeValues([['x', 'true']]);
    expect(replica.snapshot().getInteger('a.b', 0)).toBe(3);
    expect(replica.snapshot().getBoolean('x', false)).toBe(true);
    expect(replica.snapshot().fractionEnabled('f', { numerator: 0, denominator: 'HUNDRED' }, 0)).toBe(true);
    expect(replica.snapshot().fractionEnabled('f', { numerator: 0, denominator: 'HUNDRED' }, 1)).toBe(false);
  });
});

describe('disk layer', () => {
  it('reads a directory tree and picks up an atomic symlink swap without restart', async () => {
    const root = await tempDir();
    await publishVersion(root, 'v1', {
      'fault.http.abort.abort_percent': '10\n',
      'comment.only': '# placeholder\n',
      text: 'a b  \n',
    });
    const runtime = await LayeredRuntime.create(
      parseLayeredRuntime({
        layers: [
          { name: 'static', static_layer: { 'fault.http.abort.abort_percent': 1, keep: 'static' } },
          { name: 'disk', disk_layer: { symlink_root: join(root, 'current'), subdirectory: 'envoy' } },
          { name: 'admin', admin_layer: {} },
        ],
      }),
    );
    cleanups.push(() => runtime.close());
    const first = runtime.snapshot();
    expect(first.getInteger('fault.http.abort.abort_percent', 0)).toBe(10);
    expect(first.get('comment.only')).toBe('');
    expect(first.get('text')).toBe('a b');
    expect(first.get('keep')).toBe('static');

    await publishVersion(root, 'v2', { 'fault.http.abort.abort_percent': '75' });
    const second = await waitForSnapshot(runtime, (s) => s.getInteger('fault.http.abort.abort_percent', 0) === 75);
    expect(second.get('text')).toBeUndefined();
    expect(second.layers.map((l) => l.name)).toEqual(['static', 'disk', 'admin']);
  });

  it('skips a disk layer whose directory is missing', async () => {
    const root = await tempDir();
    const runtime = await LayeredRuntime.create(
      parseLayeredRuntime({
        layers: [{ name: 'disk', disk_layer: { symlink_root: join(root, 'current'), subdirectory: 'envoy' } }],
      }),
    );
    cleanups.push(() => runtime.close());
    expect(runtime.snapshot().layers).toEqual([]);
    await publishVersion(root, 'v1', { k: '4' });
    await waitForSnapshot(runtime, (s) => s.getInteger('k', 0) === 4);
  });
});

describe('runtime admin endpoints', () => {
  function registry(): {
    handlers: Map<string, { mutating: boolean; handler: AdminHandler }>;
    registry: AdminHandlerRegistry;
  } {
    const handlers = new Map<string, { mutating: boolean; handler: AdminHandler }>();
    return {
      handlers,
      registry: {
        addHandler(path, _help, mutating, handler) {
          if (handlers.has(path)) throw new Error(`duplicate ${path}`);
          handlers.set(path, { mutating, handler });
        },
      },
    };
  }
  async function call(h: AdminHandler, query: string, body = ''): Promise<AdminResponse> {
    return h({ method: 'POST', path: '/', query: new URLSearchParams(query), body: Buffer.from(body) });
  }

  it('renders Envoy /runtime JSON and applies /runtime_modify from query or form body', async () => {
    const runtime = await LayeredRuntime.create(
      parseLayeredRuntime({
        layers: [
          { name: 'base', static_layer: { a: 1, b: 'x' } },
          { name: 'admin', admin_layer: {} },
        ],
      }),
    );
    cleanups.push(() => runtime.close());
    const { handlers, registry: r } = registry();
    registerRuntimeAdminHandlers(r, runtime);
    expect(handlers.get('/runtime_modify')!.mutating).toBe(true);
    expect(handlers.get('/runtime')!.mutating).toBe(false);

    expect((await call(handlers.get('/runtime_modify')!.handler, 'a=5')).status).toBe(200);
    expect((await call(handlers.get('/runtime_modify')!.handler, '', 'c=7&b=')).status).toBe(200);
    const bad = await call(handlers.get('/runtime_modify')!.handler, '');
    expect(bad.status).toBe(400);
    expect(String(bad.body)).toMatch(/usage: \/runtime_modify/);

    const dump = JSON.parse(String((await call(handlers.get('/runtime')!.handler, '')).body));
    expect(dump).toEqual({
      layers: ['base', 'admin'],
      entries: {
        a: { final_value: '5', layer_values: ['1', '5'] },
        b: { final_value: 'x', layer_values: ['x', ''] },
        c: { final_value: '7', layer_values: ['', '7'] },
      },
    });
  });

  it('answers 503 when there is no admin layer', async () => {
    const runtime = await LayeredRuntime.create(parseLayeredRuntime({ layers: [{ name: 'base', static_layer: {} }] }));
    cleanups.push(() => runtime.close());
    const { handlers, registry: r } = registry();
    registerRuntimeAdminHandlers(r, runtime);
    const res = await call(handlers.get('/runtime_modify')!.handler, 'a=1');
    expect(res.status).toBe(503);
    expect(String(res.body)).toMatch(/No admin layer specified/);
  });
});
