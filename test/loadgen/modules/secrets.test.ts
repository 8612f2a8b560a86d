// k6/secrets with sources as --secret-source gives them: a mock source inline, a named file
// source, the default one; a bad source refused before the test with k6's exit code 104.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';
import { failedChecks, run, scriptDir } from './helpers.js';

const tmp = scriptDir();

describe('k6/secrets', () => {
  it('reads the default and named sources', async () => {
    const file = tmp.write('vault.secrets', '# a comment\napi_key=from-file\n');
    const script = tmp.write(
      'secrets.js',
      `import secrets from 'k6/secrets';
import { check } from 'k6';
export const options = { iterations: 1 };
export default async function () {
  const a = await secrets.get('cool');
  const b = await secrets.source('vault').get('api_key');
  let missing = '';
  try { await secrets.get('nope'); } catch (e) { missing = String(e); }
  check(null, {
    'default source': () => a === 'not cool',
    'named file source': () => b === 'from-file',
    'missing key named': () => missing.includes("no secret 'nope' in source 'mock'"),
  });
}
`,
    );
    const r = await run({
      script,
      secretSources: ['mock=default,cool="not cool"', `file=name=vault,filename=${file}`],
    });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(r.summary!.metrics.checks!.values.passes).toBe(3);
  });

  it('logs a rejection the script never awaits as k6 does and carries on (needs dist/)', async () => {
    // secrets.get() without await, and no source: the promise rejects with nobody handling it.
    const script = tmp.write(
      'unawaited.js',
      `import secrets from 'k6/secrets';
export const options = { iterations: 3 };
export default function () { secrets.get('cool'); }
`,
    );
    const r = await runCli(['run', script, '--quiet']);
    expect(r.stderr).toContain('Uncaught (in promise) Error: secrets: no default secret source');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/iterations\.+: 3\b/);
  });

  it('refuses an unknown source type with exit 104', async () => {
    const script = tmp.write('s2.js', 'export default function () {}\n');
    const r = await run({ script, secretSources: ['vault=x'] });
    expect(r.exitCode).toBe(104);
    expect(r.stderr).toContain("unknown source type 'vault' (mock, file)");
  });
});
