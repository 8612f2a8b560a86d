// The proxy's import graph, read from the sources (type-only imports count: a type circle is
// still a circle for whoever reads or moves the code). The config API (proxy/api) is a leaf:
// it imports only itself, zod, node: modules and the repository's shared/ base; and no import
// circle runs through it, through the loader (proxy/config) or across the core's folders.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC_IMPORT = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

/** file → the specifiers it imports (relative ones resolved to repository paths). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(join(repo, 'proxy'))) {
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(IMPORT), ...text.matchAll(DYNAMIC_IMPORT)].map((m) => m[1]!);
    graph.set(
      relative(repo, file),
      specs.map((s) => (s.startsWith('.') ? relative(repo, resolve(dirname(file), s.replace(/\.js$/, '.ts'))) : s)),
    );
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('proxy import graph', () => {
  const graph = importGraph();

  it('proxy/api imports nothing but itself, zod, node: modules and shared/', () => {
    const outside: string[] = [];
    for (const [file, imports] of graph) {
      if (!file.startsWith('proxy/api/')) continue;
      for (const target of imports) {
        const allowed =
          target.startsWith('proxy/api/') ||
          target.startsWith('shared/') ||
          target === 'zod' ||
          target.startsWith('node:');
        if (!allowed) outside.push(`${file} -> ${target}`);
      }
    }
    expect([...graph.keys()].filter((f) => f.startsWith('proxy/api/')).length).toBeGreaterThan(5);
    expect(outside).toEqual([]);
  });

  it('has no import circle', () => {
    expect(cycles(graph)).toEqual([]);
  });
});
