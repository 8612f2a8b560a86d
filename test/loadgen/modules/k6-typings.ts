// Every runtime export of every k6 module in k6's published typings (@types/k6): functions,
// classes that scripts construct, constants and enums; interfaces, types and abstract classes
// (k6's own types for values it hands out) are not exports a script can import.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TypedModule {
  readonly name: string;
  readonly exports: readonly string[];
}

const EXPORT = /^export\s+(?:declare\s+)?(?:function|class|const|let|var|enum)\s+([A-Za-z_$][\w$]*)/;

/** The k6 modules in the typings under `root` (node_modules/@types/k6), by import name. */
export function k6TypedModules(root: string): TypedModule[] {
  const out: TypedModule[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name === 'index.d.ts') {
        const rel = path.relative(root, dir).split(path.sep).join('/');
        const exports = new Set<string>();
        const text = fs.readFileSync(p, 'utf8');
        for (const line of text.split('\n')) {
          const m = EXPORT.exec(line);
          if (m !== null) exports.add(m[1]!);
        }
        // Modules typed as `export default _default` list their exports as that object's keys.
        const dflt = /declare const _default:\s*\{([\s\S]*?)\};/.exec(text);
        if (dflt !== null) for (const m of dflt[1]!.matchAll(/"([\w$]+)"\s*:/g)) exports.add(m[1]!);
        if (exports.size > 0) out.push({ name: rel === '' ? 'k6' : `k6/${rel}`, exports: [...exports].sort() });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
