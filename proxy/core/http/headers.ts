// Header map in Envoy's model: lower-case names, insertion order kept, repeated names allowed,
// and request/response pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`)
// stored alongside, so route matchers, filters and access loggers address them uniformly.
// Two parallel arrays keep it cheap to build from the codec and to serialize again.

const NONE: readonly string[] = Object.freeze([]);

export class HeaderMap {
  readonly names: string[] = [];
  readonly values: string[] = [];

  get size(): number {
    return this.names.length;
  }

  /** First value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  /** Every value of `name`, in order (a shared empty array when there is none). */
  getAll(name: string): readonly string[] {
    const names = this.names;
    const first = names.indexOf(name);
    if (first === -1) return NONE;
    const out: string[] = [this.values[first]!];
    for (let i = first + 1; i < names.length; i++) if (names[i] === name) out.push(this.values[i]!);
    return out;
  }

  has(name: string): boolean {
    return this.names.indexOf(name) !== -1;
  }

  /** Appends a value, keeping earlier values of the same name. */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  /** Replaces every value of `name` with one value (in the first one's position). */
  set(name: string, value: string): void {
    const i = this.names.indexOf(name);
    if (i === -1) {
      this.add(name, value);
      return;
    }
    this.values[i] = value;
    if (this.names.indexOf(name, i + 1) !== -1) this.#compact(i + 1, name, null);
  }

  /** Removes every value of `name`; returns how many were removed. */
  remove(name: string): number {
    const i = this.names.indexOf(name);
    return i === -1 ? 0 : this.#compact(i, name, null);
  }

  /** Removes every header whose name `drop` selects; returns how many were removed. */
  removeIf(drop: (name: string) => boolean): number {
    return this.#compact(0, null, drop);
  }

  /**
   * Drops the headers at or after `from` named `name`, or selected by `drop`, compacting in place
   * (splice would allocate per call; set and remove run on every request, so they pass the name
   * rather than a closure).
   */
  #compact(from: number, name: string | null, drop: ((name: string) => boolean) | null): number {
    const names = this.names;
    const values = this.values;
    let w = from;
    for (let r = from; r < names.length; r++) {
      if (drop === null ? names[r] === name : drop(names[r]!)) continue;
      if (w !== r) {
        names[w] = names[r]!;
        values[w] = values[r]!;
      }
      w++;
    }
    const removed = names.length - w;
    names.length = w;
    values.length = w;
    return removed;
  }
}
