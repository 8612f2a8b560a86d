// k6/secrets: secrets.get(key) from the default source, secrets.source(name).get(key) from a
// named one. Sources come from `--secret-source` as k6 spells them:
//   mock=key=value,other=value          secrets given inline
//   file=path/to/secrets                a file of key=value lines
//   file=name=vault,filename=path,default
// `name=` names a source, `default` makes it the default; a single source is the default.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModuleContext } from '../context.js';

export class SecretSourceError extends Error {
  readonly code = 'MS_ERR_SECRET_SOURCE';
}

export interface SecretSource {
  readonly name: string;
  readonly isDefault: boolean;
  readonly secrets: ReadonlyMap<string, string>;
}

function keyValues(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new SecretSourceError(`secret source ${where}:${i + 1}: expected key=value`);
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1));
  });
  return out;
}

/** Parses `--secret-source` values; throws SecretSourceError naming the bad one. */
export function parseSecretSources(specs: readonly string[], baseDir: string): SecretSource[] {
  const sources = specs.map((spec): SecretSource => {
    const eq = spec.indexOf('=');
    const type = eq === -1 ? spec : spec.slice(0, eq);
    if (type !== 'mock' && type !== 'file')
      throw new SecretSourceError(`--secret-source ${spec}: unknown source type '${type}' (mock, file)`);
    const parts = eq === -1 ? [] : spec.slice(eq + 1).split(',');
    let name = type;
    let isDefault = false;
    let filename: string | undefined;
    const inline = new Map<string, string>();
    for (const part of parts) {
      const peq = part.indexOf('=');
      const k = peq === -1 ? part : part.slice(0, peq);
      const v = peq === -1 ? '' : part.slice(peq + 1);
      if (part === 'default') isDefault = true;
      else if (k === 'name' && peq !== -1) name = v;
      else if (type === 'file' && k === 'filename' && peq !== -1) filename = v;
      else if (type === 'file' && peq === -1) filename = part;
      else if (type === 'mock' && peq !== -1) inline.set(k, v.replace(/^"(.*)"$/, '$1'));
      else throw new SecretSourceError(`--secret-source ${spec}: unexpected '${part}'`);
    }
    if (type === 'mock') return { name, isDefault, secrets: inline };
    if (filename === undefined) throw new SecretSourceError(`--secret-source ${spec}: a file source needs a filename`);
    const p = path.resolve(baseDir, filename);
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      throw new SecretSourceError(`--secret-source ${spec}: cannot read ${p}`);
    }
    return { name, isDefault, secrets: keyValues(text, filename) };
  });
  if (sources.length === 1 && !sources[0]!.isDefault) return [{ ...sources[0]!, isDefault: true }];
  return sources;
}

export function createSecretsModule(ctx: ModuleContext): Record<string, unknown> {
  const all = (): readonly SecretSource[] => ctx.test.secretSources ?? [];
  const lookup = async (source: SecretSource | undefined, what: string, key: string): Promise<string> => {
    if (source === undefined) throw new Error(`secrets: no ${what} secret source (set one with --secret-source)`);
    const v = source.secrets.get(String(key));
    if (v === undefined) throw new Error(`secrets: no secret '${key}' in source '${source.name}'`);
    return v;
  };
  const mod: Record<string, unknown> = {
    get: (key: string) =>
      lookup(
        all().find((s) => s.isDefault),
        'default',
        key,
      ),
    source: (name: string) => ({
      get: (key: string) =>
        lookup(
          all().find((s) => s.name === name),
          `'${name}'`,
          key,
        ),
    }),
  };
  mod.default = mod;
  return mod;
}
