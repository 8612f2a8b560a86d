// Header map in Envoy's model: lower-case names, insertion order kept, repeated names allowed,
// and request/response pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`)
// stored alongside, so route matchers, filters and access loggers address them uniformly.
// Two parallel arrays keep it cheap to build from the codec and to serialize again.

const NONE: readonly string[] = Object.freeze([]);

/** The HTTP/1 text of a map's last headers and what they were when it was given (setTrailingLines). */
interface TrailingLines {
  readonly lines: string;
  readonly at: number;
  readonly end: number;
  readonly first: string;
  readonly last: string;
}

export class HeaderMap {
  readonly names: string[] = [];
  readonly values: string[] = [];
  /**
   * The HTTP/1 text of the last headers, when whoever appended them gave it (setTrailingLines:
   * the tracer's propagation headers, ~40% cheaper to write as one text than joined header by
   * header); null once the map's methods change anything. A write straight into the arrays
   * must not touch those entries. One field for all of it: only a traced request's map has
   * such a text, and every map (two or more per proxied request) would carry five fields for it.
   */
  #trailing: TrailingLines | null = null;

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

  /**
   * Puts a header first (the codecs' pseudo-headers, which lead the map as in Envoy). The entries
   * move up one by one: Array.prototype.unshift leaves V8's fast builtins for a C++ call each time
   * (perf under wrk: ~0.7% of the request thread for the request's and the response's).
   */
  prepend(name: string, value: string): void {
    this.#trailing = null;
    const names = this.names;
    const values = this.values;
    names.push(name);
    values.push(value);
    for (let i = names.length - 1; i > 0; i--) {
      names[i] = names[i - 1]!;
      values[i] = values[i - 1]!;
    }
    names[0] = name;
    values[0] = value;
  }

  /** Appends a value, keeping earlier values of the same name. */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  /**
   * Declares the headers from index `from` to the end, just appended, to be `lines` in HTTP/1
   * (`name: value\r\n` each), for an HTTP/1 encoder to write as it is (trailingLinesFrom).
   */
  setTrailingLines(from: number, lines: string): void {
    const n = this.names.length;
    if (from >= n) return;
    this.#trailing = { lines, at: from, end: n, first: this.values[from]!, last: this.values[n - 1]! };
  }

  /** Where the headers trailingLines stands for start, or -1 when there is no such text (or it is stale). */
  trailingLinesFrom(): number {
    const t = this.#trailing;
    if (t === null) return -1;
    const n = this.names.length;
    const values = this.values;
    return n === t.end && values[t.at] === t.first && values[n - 1] === t.last ? t.at : -1;
  }

  /** The HTTP/1 text of the headers from trailingLinesFrom() on (only when that is not -1). */
  get trailingLines(): string {
    return this.#trailing?.lines ?? '';
  }

  /** Replaces every value of `name` with one value (in the first one's position). */
  set(name: string, value: string): void {
    this.#trailing = null;
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
    this.#trailing = null;
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
    // pop() stays in V8's fast builtins; assigning `length` is a runtime call each time (perf:
    // ArrayLengthSetter, JSArray::SetLength and StoreCallbackProperty, ~0.9% of the request
    // thread under wrk), and a request or response drops only a few headers.
    for (let i = 0; i < removed; i++) {
      names.pop();
      values.pop();
    }
    return removed;
  }
}
