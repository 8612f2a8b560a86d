// Turns a bundled k6 script (synchronous k6 API) into code that runs on Node's event loop.
//
// k6 scripts call `http.get()` and `sleep()` as if they blocked. Here they are async, so every
// function that (transitively) reaches one becomes `async` and each such call is awaited. Only
// those functions change: callbacks that never block (`check` predicates, `arr.map(x => x.id)`)
// stay synchronous, so ordinary JavaScript keeps its meaning. The analysis is by name (a function
// named `login` makes every call `login()` / `x.login()` awaited), iterated to a fixpoint.
//
// Why not a worker thread per VU blocking on Atomics.wait: measured here, each worker costs about
// 8 MB of RSS (50 VUs ≈ 460 MB), while 500 VUs as async functions on one loop fit in the ~80 MB
// a single one needs.
//
// Insertions never add line breaks, so line numbers of the bundle survive; a source map from
// magic-string maps columns exactly. Imports of k6 modules become lookups in a per-VU module
// table and exports become assignments, so the result runs as a function body once per VU
// (each VU has its own module state, as each k6 VU has its own JS runtime).
import * as acorn from 'acorn';
import MagicString from 'magic-string';
import { MODULE_NAMES, MODULES, resolveModule } from './modules/catalog.js';

/** Module names a script imports; the bundler keeps them external. */
export const K6_MODULES: readonly string[] = MODULE_NAMES;
const JSLIB_NAMES = MODULES.filter((m) => m.name.startsWith('jslib/')).map((m) => m.name.slice('jslib/'.length));

const BLOCKING: Readonly<Record<string, ReadonlySet<string>>> = Object.fromEntries(
  MODULES.map((m) => [m.name, new Set(m.blocking ?? [])]),
);

/** Free identifiers k6 provides per VU / per iteration; rewritten to reads of the VU context. */
const CONTEXT_GLOBALS: Readonly<Record<string, string>> = {
  __ENV: '__ms_ctx.env',
  __ITER: '__ms_ctx.iter',
  __VU: '__ms_ctx.vu',
};

const WRAPPER_PARAMS = '__ms_require, __ms_exports, __ms_ctx, __ms_array, open, console';

export class TransformError extends Error {
  readonly pos: number;
  constructor(message: string, pos: number) {
    super(message);
    this.pos = pos;
  }
}

export interface TransformResult {
  code: string;
  map: {
    version: number;
    sources: string[];
    names: string[];
    mappings: string;
    file: string;
    sourceRoot: string;
    sourcesContent: string[];
  };
}

type Fn =
  | acorn.FunctionDeclaration
  | acorn.FunctionExpression
  | acorn.ArrowFunctionExpression
  | acorn.AnonymousFunctionDeclaration;

interface FnInfo {
  node: Fn;
  names: string[];
  calls: CallInfo[];
  /** Where `async ` goes, or -1 when the function cannot become async (generator, getter, constructor). */
  asyncAt: number;
  userAsync: boolean;
  made: boolean;
}

interface CallInfo {
  start: number;
  end: number;
  seed: boolean;
  name: string | undefined;
  owner: FnInfo | null;
  inParams: boolean;
  /** `xs.forEach(cb)` and kin: the array method, the receiver's end and the callback. */
  array: { method: string; objectEnd: number; firstArg: number; callback: acorn.AnyNode } | undefined;
}

/**
 * Array methods whose callback may block: when it does, the call becomes
 * `(await __ms_array.forEach(xs, cb))`, which runs the callbacks one after another, as the
 * synchronous k6 script would.
 */
const ARRAY_METHODS = new Set(['forEach', 'map', 'filter', 'some', 'every', 'find']);

interface ImportBinding {
  module: string;
  /** Imported name; '*' for namespace and 'default' for default imports. */
  imported: string;
}

function isNode(x: unknown): x is acorn.AnyNode {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

function propName(key: acorn.AnyNode, computed: boolean): string | undefined {
  if (!computed && key.type === 'Identifier') return key.name;
  if (key.type === 'Literal' && typeof key.value === 'string') return key.value;
  return undefined;
}

function isFunction(n: acorn.AnyNode): n is Fn {
  return n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';
}

function visit(
  node: acorn.AnyNode,
  parent: acorn.AnyNode | null,
  fn: (n: acorn.AnyNode, p: acorn.AnyNode | null) => void,
): void {
  fn(node, parent);
  for (const key of Object.keys(node)) {
    const v = (node as unknown as Record<string, unknown>)[key];
    if (Array.isArray(v)) {
      for (const c of v) if (isNode(c)) visit(c, node, fn);
    } else if (isNode(v)) visit(v, node, fn);
  }
}

/**
 * Names the script stores on its global object (`globalThis.x = …`) and declares nowhere. Every
 * VU's instance runs in one realm with `globalThis` a wrapper parameter (the VU's own object), so
 * a bare `x` would look in the realm's global and miss it; it is read as `globalThis.x` instead,
 * as in k6, where a VU's global object is the one bare names resolve against.
 */
function storedGlobals(ast: acorn.Program): Set<string> {
  const stored = new Set<string>();
  const declared = new Set<string>();
  const bind = (p: acorn.AnyNode | null | undefined): void => {
    if (p === null || p === undefined) return;
    if (p.type === 'Identifier') declared.add(p.name);
    else if (p.type === 'ObjectPattern')
      for (const prop of p.properties) bind(prop.type === 'RestElement' ? prop : prop.value);
    else if (p.type === 'ArrayPattern') for (const e of p.elements) bind(e);
    else if (p.type === 'RestElement') bind(p.argument);
    else if (p.type === 'AssignmentPattern') bind(p.left);
  };
  visit(ast, null, (node) => {
    if (node.type === 'VariableDeclarator') bind(node.id);
    else if (isFunction(node)) {
      if (node.type !== 'ArrowFunctionExpression' && node.id) declared.add(node.id.name);
      for (const param of node.params) bind(param);
    } else if ((node.type === 'ClassDeclaration' || node.type === 'ClassExpression') && node.id)
      declared.add(node.id.name);
    else if (node.type === 'CatchClause') bind(node.param);
    else if (
      node.type === 'ImportSpecifier' ||
      node.type === 'ImportDefaultSpecifier' ||
      node.type === 'ImportNamespaceSpecifier'
    )
      declared.add(node.local.name);
    else if (
      node.type === 'AssignmentExpression' &&
      node.left.type === 'MemberExpression' &&
      node.left.object.type === 'Identifier' &&
      node.left.object.name === 'globalThis'
    ) {
      const name = propName(node.left.property, node.left.computed);
      if (name !== undefined) stored.add(name);
    }
  });
  for (const name of declared) stored.delete(name);
  return stored;
}

/** An identifier that names a property, a label or a meta property rather than a binding. */
function notAReference(node: acorn.Identifier, parent: acorn.AnyNode | null): boolean {
  if (parent === null) return false;
  switch (parent.type) {
    case 'MemberExpression':
      return parent.property === node && !parent.computed;
    case 'Property':
      // A shorthand property's key and value are two nodes over the same text: the value is the reference.
      return parent.key === node && (parent.shorthand || !parent.computed);
    case 'MethodDefinition':
    case 'PropertyDefinition':
      return parent.key === node && !parent.computed;
    case 'LabeledStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
    case 'MetaProperty':
    case 'ExportSpecifier':
      return true;
    default:
      return false;
  }
}

/**
 * `globalParams` are more wrapper parameters after the fixed ones: names whose free uses in the
 * script must read the VU's own value, not the realm's global (globals.ts, vuGlobalNames()).
 */
export function transformScript(
  source: string,
  filename: string,
  globalParams: readonly string[] = [],
): TransformResult {
  let ast: acorn.Program;
  try {
    ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module' });
  } catch (err) {
    const pos = (err as { pos?: number }).pos ?? 0;
    throw new TransformError(err instanceof Error ? err.message.replace(/ \(\d+:\d+\)$/, '') : String(err), pos);
  }
  const s = new MagicString(source);
  const imports = new Map<string, ImportBinding>();
  const fns: FnInfo[] = [];
  const topCalls: CallInfo[] = [];
  const exportsTail: string[] = [];
  /** Method names that block because a module handing out such objects is imported. */
  const blockingMethods = new Set<string>();
  let withInstanceMethods = false;

  // Pass 1: imports and exports (top level only in ESM).
  for (const stmt of ast.body) {
    if (stmt.type === 'ImportDeclaration') {
      const specifier = String(stmt.source.value);
      const entry = resolveModule(specifier);
      if (entry === undefined) {
        throw new TransformError(
          `unsupported module '${specifier}': meshscope provides ${K6_MODULES.join(', ')}, the jslib.k6.io modules ${JSLIB_NAMES.join(', ')}, and bundles relative imports`,
          stmt.start,
        );
      }
      const mod = entry.name;
      for (const m of entry.blockingMethods ?? []) blockingMethods.add(m);
      if (entry.blockingInstanceMethods !== undefined) withInstanceMethods = true;
      const parts: string[] = [];
      const named: string[] = [];
      for (const spec of stmt.specifiers) {
        if (spec.type === 'ImportNamespaceSpecifier') {
          imports.set(spec.local.name, { module: mod, imported: '*' });
          parts.push(`const ${spec.local.name} = __ms_require(${JSON.stringify(mod)});`);
        } else if (spec.type === 'ImportDefaultSpecifier') {
          imports.set(spec.local.name, { module: mod, imported: 'default' });
          named.push(`default: ${spec.local.name}`);
        } else {
          const imported = spec.imported.type === 'Identifier' ? spec.imported.name : String(spec.imported.value);
          imports.set(spec.local.name, { module: mod, imported });
          named.push(`${JSON.stringify(imported)}: ${spec.local.name}`);
        }
      }
      if (named.length > 0) parts.push(`const { ${named.join(', ')} } = __ms_require(${JSON.stringify(mod)});`);
      if (parts.length === 0) parts.push(`__ms_require(${JSON.stringify(mod)});`);
      s.overwrite(stmt.start, stmt.end, parts.join(' '));
    } else if (stmt.type === 'ExportNamedDeclaration') {
      if (stmt.source)
        throw new TransformError('re-exporting from another module is not supported in a k6 script', stmt.start);
      if (stmt.declaration) {
        s.remove(stmt.start, stmt.declaration.start);
        const d = stmt.declaration;
        if (d.type === 'VariableDeclaration') {
          for (const decl of d.declarations)
            if (decl.id.type === 'Identifier') exportsTail.push(`__ms_exports.${decl.id.name} = ${decl.id.name};`);
        } else exportsTail.push(`__ms_exports.${d.id.name} = ${d.id.name};`);
      } else {
        const assigns = stmt.specifiers.map((sp) => {
          const local = sp.local.type === 'Identifier' ? sp.local.name : String(sp.local.value);
          const exported = sp.exported.type === 'Identifier' ? sp.exported.name : String(sp.exported.value);
          return `__ms_exports[${JSON.stringify(exported)}] = ${local};`;
        });
        s.overwrite(stmt.start, stmt.end, assigns.join(' '));
      }
    } else if (stmt.type === 'ExportDefaultDeclaration') {
      const d = stmt.declaration;
      if ((d.type === 'FunctionDeclaration' || d.type === 'ClassDeclaration') && d.id) {
        s.remove(stmt.start, d.start);
        exportsTail.push(`__ms_exports.default = ${d.id.name};`);
      } else s.overwrite(stmt.start, d.start, '__ms_exports.default = ');
    } else if (stmt.type === 'ExportAllDeclaration') {
      throw new TransformError('export * is not supported in a k6 script', stmt.start);
    }
  }

  // Pass 1b: variables holding instances of module classes with blocking methods
  // (`const client = new grpc.Client()`), anywhere in the script.
  const instances = new Map<string, ReadonlySet<string>>();
  const classMethods = (callee: acorn.AnyNode): ReadonlySet<string> | undefined => {
    let module: string | undefined;
    let cls: string | undefined;
    if (callee.type === 'Identifier') {
      const b = imports.get(callee.name);
      if (b !== undefined && b.imported !== '*' && b.imported !== 'default') [module, cls] = [b.module, b.imported];
    } else if (callee.type === 'MemberExpression' && callee.object.type === 'Identifier') {
      const b = imports.get(callee.object.name);
      if (b !== undefined && (b.imported === '*' || b.imported === 'default'))
        [module, cls] = [b.module, propName(callee.property, callee.computed)];
    }
    const methods =
      module === undefined || cls === undefined ? undefined : resolveModule(module)?.blockingInstanceMethods?.[cls];
    return methods === undefined ? undefined : new Set(methods);
  };
  const findInstances = (node: acorn.AnyNode): void => {
    let target: acorn.AnyNode | null | undefined;
    let value: acorn.AnyNode | null | undefined;
    if (node.type === 'VariableDeclarator') [target, value] = [node.id, node.init];
    else if (node.type === 'AssignmentExpression') [target, value] = [node.left, node.right];
    if (target?.type === 'Identifier' && value?.type === 'NewExpression') {
      const methods = classMethods(value.callee);
      if (methods !== undefined) instances.set(target.name, methods);
    }
    for (const key of Object.keys(node)) {
      const v = (node as unknown as Record<string, unknown>)[key];
      if (Array.isArray(v)) {
        for (const c of v) if (isNode(c)) findInstances(c);
      } else if (isNode(v)) findInstances(v);
    }
  };
  if (withInstanceMethods) findInstances(ast);

  // Pass 2: functions, their names, and the calls each one makes directly.
  const walk = (node: acorn.AnyNode, parent: acorn.AnyNode | null, owner: FnInfo | null): void => {
    let inner = owner;
    if (isFunction(node)) {
      const names: string[] = [];
      let asyncAt = node.start;
      if (node.type !== 'ArrowFunctionExpression' && node.id) names.push(node.id.name);
      if (parent?.type === 'VariableDeclarator' && parent.id.type === 'Identifier') names.push(parent.id.name);
      if (parent?.type === 'AssignmentExpression' && parent.right === node) {
        if (parent.left.type === 'Identifier') names.push(parent.left.name);
        else if (parent.left.type === 'MemberExpression') {
          const n = propName(parent.left.property, parent.left.computed);
          if (n !== undefined) names.push(n);
        }
      }
      if (parent?.type === 'Property' && parent.value === node) {
        const n = propName(parent.key, parent.computed);
        if (n !== undefined) names.push(n);
        if (parent.kind !== 'init') asyncAt = -1;
        else if (parent.method) asyncAt = parent.start;
      }
      if (parent?.type === 'MethodDefinition') {
        const n = propName(parent.key, parent.computed);
        if (n !== undefined) names.push(n);
        if (parent.kind !== 'method') asyncAt = -1;
        else asyncAt = parent.computed ? source.lastIndexOf('[', parent.key.start) : parent.key.start;
      }
      if (node.generator) asyncAt = -1;
      const info: FnInfo = { node, names, calls: [], asyncAt, userAsync: node.async, made: false };
      fns.push(info);
      inner = info;
    }
    if (node.type === 'CallExpression') {
      let seed = false;
      let name: string | undefined;
      const callee = node.callee;
      if (callee.type === 'Identifier') {
        const b = imports.get(callee.name);
        if (b !== undefined) seed = BLOCKING[b.module]?.has(b.imported) ?? false;
        else name = callee.name;
      } else if (callee.type === 'MemberExpression') {
        const prop = propName(callee.property, callee.computed);
        const obj = callee.object.type === 'Identifier' ? imports.get(callee.object.name) : undefined;
        if (obj !== undefined && (obj.imported === '*' || obj.imported === 'default'))
          seed = prop !== undefined && (BLOCKING[obj.module]?.has(prop) ?? false);
        else if (prop !== undefined && blockingMethods.has(prop)) seed = true;
        else if (
          prop !== undefined &&
          callee.object.type === 'Identifier' &&
          instances.get(callee.object.name)?.has(prop)
        )
          seed = true;
        else if ((prop === 'call' || prop === 'apply') && callee.object.type === 'Identifier')
          name = callee.object.name;
        else if ((prop === 'call' || prop === 'apply') && callee.object.type === 'MemberExpression')
          name = propName(callee.object.property, callee.object.computed);
        else name = prop;
      }
      const wrapTarget = parent?.type === 'ChainExpression' ? parent : node;
      const fnNode = owner?.node;
      const inParams = fnNode !== undefined && node.start < fnNode.body.start;
      let array: CallInfo['array'];
      const first = node.arguments[0];
      if (
        callee.type === 'MemberExpression' &&
        !callee.optional &&
        parent?.type !== 'ChainExpression' &&
        name !== undefined &&
        ARRAY_METHODS.has(name) &&
        first !== undefined &&
        first.type !== 'SpreadElement'
      ) {
        array = { method: name, objectEnd: callee.object.end, firstArg: first.start, callback: first };
      }
      (owner === null ? topCalls : owner.calls).push({
        start: wrapTarget.start,
        end: wrapTarget.end,
        seed,
        name,
        owner,
        inParams,
        array,
      });
    }
    if (node.type === 'Identifier' && node.name in CONTEXT_GLOBALS) {
      const isKey =
        (parent?.type === 'MemberExpression' && parent.property === node && !parent.computed) ||
        (parent?.type === 'Property' && parent.key === node && !parent.computed && !parent.shorthand) ||
        (parent?.type === 'MethodDefinition' && parent.key === node);
      if (!isKey) {
        const replacement = CONTEXT_GLOBALS[node.name]!;
        if (parent?.type === 'Property' && parent.shorthand && parent.value === node)
          s.overwrite(node.start, node.end, `${node.name}: ${replacement}`);
        else s.overwrite(node.start, node.end, replacement);
      }
    }
    for (const key of Object.keys(node)) {
      const v = (node as unknown as Record<string, unknown>)[key];
      if (Array.isArray(v)) {
        for (const c of v) if (isNode(c)) walk(c, node, inner);
      } else if (isNode(v)) walk(v, node, inner);
    }
  };
  walk(ast, null, null);

  if (globalParams.includes('globalThis')) {
    const stored = storedGlobals(ast);
    if (stored.size > 0)
      visit(ast, null, (node, parent) => {
        if (node.type !== 'Identifier' || !stored.has(node.name) || notAReference(node, parent)) return;
        const read = `globalThis.${node.name}`;
        if (parent?.type === 'Property' && parent.shorthand && parent.value === node)
          s.overwrite(node.start, node.end, `${node.name}: ${read}`);
        else s.overwrite(node.start, node.end, read);
      });
  }

  // Pass 3: fixpoint over "reaches a blocking call".
  const asyncNames = new Set<string>();
  const byNode = new Map<acorn.AnyNode, FnInfo>(fns.map((f) => [f.node, f]));
  const blockingCallback = (c: CallInfo): boolean => {
    if (c.array === undefined) return false;
    const cb = c.array.callback;
    if (cb.type === 'Identifier') return asyncNames.has(cb.name);
    const f = byNode.get(cb);
    return f?.made === true && !f.userAsync;
  };
  // `xs.find((x) => …)` is the array method, whatever user function is also named `find`.
  const blocking = (c: CallInfo): boolean =>
    c.seed ||
    blockingCallback(c) ||
    (c.name !== undefined && asyncNames.has(c.name) && !(c.array !== undefined && isFunction(c.array.callback)));
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of fns) {
      if (f.made || f.asyncAt === -1) continue;
      if (f.calls.some(blocking)) {
        f.made = true;
        changed = true;
        if (!f.userAsync) for (const n of f.names) asyncNames.add(n);
      }
    }
  }

  // Pass 4: edits. Openers attach to the text that follows (prependRight) and closers to the text
  // before (appendLeft), so they stay put next to removed `export` keywords.
  for (const f of fns) if (f.made && !f.userAsync) s.prependRight(f.asyncAt, 'async ');
  const wrap = (c: CallInfo): void => {
    if (c.inParams || !blocking(c)) return;
    if (blockingCallback(c) && c.array !== undefined) {
      s.prependRight(c.start, `(await __ms_array.${c.array.method}(`);
      s.overwrite(c.array.objectEnd, c.array.firstArg, ', ');
      s.appendLeft(c.end, ')');
      return;
    }
    s.prependRight(c.start, '(await ');
    s.appendLeft(c.end, ')');
  };
  for (const c of topCalls) wrap(c);
  for (const f of fns) if (f.made) for (const c of f.calls) wrap(c);

  // The script runs in a block inside the wrapper, so its own declarations may shadow the
  // wrapper's parameters (k6/experimental/fs exports an `open` beside k6's global one; `import
  // crypto from 'k6/crypto'` shadows the WebCrypto global).
  s.prepend(`(async function (${[WRAPPER_PARAMS, ...globalParams].join(', ')}) { "use strict"; { `);
  s.append(`\n${exportsTail.join(' ')}\n}})`);
  const map = s.generateMap({ hires: true, source: filename, includeContent: false });
  return {
    code: s.toString(),
    map: {
      version: map.version,
      sources: map.sources,
      names: map.names,
      mappings: map.mappings,
      file: 'script.js',
      sourceRoot: '',
      sourcesContent: [],
    },
  };
}
