// k6's published typings as the contract: every export of every module in @types/k6 is looked
// up in meshscope's module of that name, from a real script run, and the counts must match the
// table in README's load-generator section (the failure message prints the table to paste).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULE_NAMES } from '../../../loadgen/script/modules/catalog.js';
import { repoRoot } from '../helpers.js';
import { checks, run, scriptDir } from './helpers.js';
import { k6TypedModules } from './k6-typings.js';

const tmp = scriptDir();

describe('k6 typings coverage', () => {
  it("implements the typings' exports the README says it does", async () => {
    const typed = k6TypedModules(path.join(repoRoot, 'node_modules/@types/k6'));
    expect(typed.map((m) => m.name)).toContain('k6/http');
    const implemented = typed.filter((m) => MODULE_NAMES.includes(m.name));
    const imports = implemented.map((m, i) => `import * as m${i} from '${m.name}';`).join('\n');
    const sets = implemented
      .flatMap((m, i) =>
        m.exports.map((e) => `  ${JSON.stringify(`${m.name} ${e}`)}: () => m${i}[${JSON.stringify(e)}] !== undefined,`),
      )
      .join('\n');
    const script = tmp.write(
      'typings.js',
      `${imports}\nimport { check } from 'k6';\nexport const options = { iterations: 1 };\nexport default function () {\n  check(null, {\n${sets}\n  });\n}\n`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    const results = checks(r);

    const rows = typed.map((m) => {
      const missing = m.exports.filter((e) => !(results[`${m.name} ${e}`]?.passes === 1));
      const have = m.exports.length - missing.length;
      const note = missing.length === 0 ? '' : ` (missing: ${missing.join(', ')})`;
      return `| \`${m.name}\` | ${have} of ${m.exports.length}${note} |`;
    });
    const total = typed.reduce((n, m) => n + m.exports.length, 0);
    const have = typed.reduce((n, m) => n + m.exports.filter((e) => results[`${m.name} ${e}`]?.passes === 1).length, 0);
    const table = ['| module | exports implemented |', '|---|---|', ...rows, `| all | ${have} of ${total} |`].join(
      '\n',
    );
    // Compared cell by cell: the formatter pads README's table columns.
    const cells = (text: string): string =>
      text
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .map((l) => l.replace(/\s*\|\s*/g, '|').replace(/\|-+/g, '|-'))
        .join('\n');
    const readme = cells(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8'));
    expect(readme, `README.md should carry this table:\n${table}\n`).toContain(cells(table));
  });
});
