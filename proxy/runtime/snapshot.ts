// An immutable view of every runtime layer merged in order (later layers win). Values are
// parsed once when the snapshot is built, so the per-request getters are one map lookup and
// a field read. A new snapshot replaces the old one wholesale when any layer changes.
import { createRequire } from 'node:module';

export type FractionalPercentDenominator = 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';

/** envoy.type.v3.FractionalPercent. */
export interface FractionalPercent {
  numerator: number;
  denominator: FractionalPercentDenominator;
}

/** envoy.config.core.v3.RuntimeFractionalPercent. */
export interface RuntimeFractionalPercent {
  default_value: FractionalPercent;
  runtime_key?: string | undefined;
}

const DENOMINATOR_VALUE: Record<FractionalPercentDenominator, number> = {
  HUNDRED: 100,
  TEN_THOUSAND: 10_000,
  MILLION: 1_000_000,
};

/** One key's value in one layer: the raw string plus every typed reading of it that parses. */
export interface RuntimeEntry {
  readonly raw: string;
  readonly uint: number | undefined;
  readonly double: number | undefined;
  readonly bool: boolean | undefined;
  readonly fraction: FractionalPercent | undefined;
}

export interface RuntimeLayerValues {
  readonly name: string;
  readonly values: ReadonlyMap<string, RuntimeEntry>;
}

const INTEGER_RE = /^\d+$/;

// Loaded only for a value that spells out a fraction: the YAML parser costs ~9 MB resident for
// the life of the process (see config/load.ts).
const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

function parseFraction(raw: string): FractionalPercent | undefined {
  if (!raw.includes('numerator') && !raw.includes('denominator')) return undefined;
  let parsed: unknown;
  try {
    parsed = requireYaml().parse(raw);
  } catch {
    return undefined;
  }
  return fractionFromValue(parsed);
}

/** Reads a `{numerator, denominator}` object as Envoy's proto JSON would, or undefined. */
export function fractionFromValue(value: unknown): FractionalPercent | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key !== 'numerator' && key !== 'denominator') return undefined;
  const numerator = record['numerator'] ?? 0;
  if (typeof numerator !== 'number' || !Number.isInteger(numerator) || numerator < 0) return undefined;
  const denominator = record['denominator'] ?? 'HUNDRED';
  const names: FractionalPercentDenominator[] = ['HUNDRED', 'TEN_THOUSAND', 'MILLION'];
  if (typeof denominator === 'number') {
    const name = names[denominator];
    return name === undefined ? undefined : { numerator, denominator: name };
  }
  if (typeof denominator === 'string' && (names as string[]).includes(denominator)) {
    return { numerator, denominator: denominator as FractionalPercentDenominator };
  }
  return undefined;
}

/** Envoy's entry typing: a boolean word, else a non-negative number (floored into uint), else a fraction. */
export function createEntry(raw: string): RuntimeEntry {
  const stripped = raw.trim();
  let bool: boolean | undefined;
  if (INTEGER_RE.test(stripped)) bool = Number(stripped) !== 0;
  else if (/^true$/i.test(stripped))
    return { raw, uint: undefined, double: undefined, bool: true, fraction: undefined };
  else if (/^false$/i.test(stripped))
    return { raw, uint: undefined, double: undefined, bool: false, fraction: undefined };
  const double = stripped === '' ? Number.NaN : Number(stripped);
  if (Number.isFinite(double)) {
    return { raw, uint: double >= 0 ? Math.floor(double) : undefined, double, bool, fraction: undefined };
  }
  return { raw, uint: undefined, double: undefined, bool, fraction: parseFraction(raw) };
}

function evaluateFraction(percent: FractionalPercent, random: number): boolean {
  return random % DENOMINATOR_VALUE[percent.denominator] < percent.numerator;
}

/** A uniformly random non-negative integer below 2^32, the source for every percentage draw. */
export function randomUint32(): number {
  return (Math.random() * 0x1_0000_0000) >>> 0;
}

export class RuntimeSnapshot {
  readonly layers: readonly RuntimeLayerValues[];
  readonly #values = new Map<string, RuntimeEntry>();

  constructor(layers: readonly RuntimeLayerValues[]) {
    this.layers = layers;
    for (const layer of layers) for (const [key, entry] of layer.values) this.#values.set(key, entry);
  }

  get size(): number {
    return this.#values.size;
  }

  get(key: string): string | undefined {
    return this.#values.get(key)?.raw;
  }

  getInteger(key: string, defaultValue: number): number {
    return this.#values.get(key)?.uint ?? defaultValue;
  }

  getDouble(key: string, defaultValue: number): number {
    return this.#values.get(key)?.double ?? defaultValue;
  }

  getBoolean(key: string, defaultValue: boolean): boolean {
    return this.#values.get(key)?.bool ?? defaultValue;
  }

  /** True for `value`% of calls, `value` being the key's integer or `defaultPercent` (0–100). */
  featureEnabled(key: string, defaultPercent: number, random: number = randomUint32()): boolean {
    const cutoff = Math.min(this.getInteger(key, defaultPercent), 100);
    if (cutoff <= 0) return false;
    if (cutoff >= 100) return true;
    return random % 100 < cutoff;
  }

  /**
   * Envoy's `featureEnabled(key, FractionalPercent)`: a fraction stored under the key wins, an
   * integer stored under it is a percentage (over 100 means always), else the default applies.
   */
  fractionEnabled(key: string | undefined, defaultValue: FractionalPercent, random: number = randomUint32()): boolean {
    const entry = key === undefined || key === '' ? undefined : this.#values.get(key);
    if (entry?.fraction !== undefined) return evaluateFraction(entry.fraction, random);
    if (entry?.uint !== undefined) {
      if (entry.uint > 100) return true;
      return random % 100 < entry.uint;
    }
    return evaluateFraction(defaultValue, random);
  }

  /** `runtime_fraction` as routes, mirrors and filters configure it. */
  runtimeFractionEnabled(fraction: RuntimeFractionalPercent, random: number = randomUint32()): boolean {
    return this.fractionEnabled(fraction.runtime_key, fraction.default_value, random);
  }
}
