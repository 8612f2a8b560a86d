// k6/experimental/csv: parse(file, options) reads a whole CSV file opened with
// k6/experimental/fs into a frozen array shared by every VU (as a SharedArray), and Parser reads
// it record by record, StreamingParser from a path. Records follow RFC 4180 (quoted fields, doubled quotes, CRLF or LF);
// options as k6's: delimiter, skipFirstLine, fromLine, toLine, asObjects (the header names keys).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModuleContext } from '../context.js';
import { File, FILE_BYTES } from './fs.js';

interface CsvOptions {
  delimiter?: string;
  skipFirstLine?: boolean;
  fromLine?: number;
  toLine?: number;
  asObjects?: boolean;
}

/** Splits CSV text into records. */
export function parseCsv(text: string, delimiter: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) endField();
    else if (c === '\n' || c === '\r') {
      endField();
      records.push(record);
      record = [];
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else field += c;
    i++;
  }
  if (field !== '' || record.length > 0) {
    endField();
    records.push(record);
  }
  return records;
}

function check(file: unknown, opts: CsvOptions | undefined): { delimiter: string } {
  if (!(file instanceof File))
    throw new TypeError('csv: the first argument must be a file from k6/experimental/fs open()');
  const delimiter = opts?.delimiter ?? ',';
  if (typeof delimiter !== 'string' || delimiter.length !== 1)
    throw new Error(`csv: delimiter must be one character, got '${String(delimiter)}'`);
  return { delimiter };
}

/** The records options select: fromLine/toLine (0-based, inclusive), skipFirstLine, asObjects. */
function select(all: string[][], opts: CsvOptions | undefined): Array<string[] | Record<string, string>> {
  let header: string[] | undefined;
  let rows = all;
  if (opts?.asObjects) {
    header = rows[0] ?? [];
    rows = rows.slice(1);
  } else if (opts?.skipFirstLine) rows = rows.slice(1);
  const from = opts?.fromLine ?? 0;
  const to = opts?.toLine ?? rows.length - 1;
  rows = rows.slice(from, to + 1);
  if (header === undefined) return rows;
  const keys = header;
  return rows.map((r) => Object.fromEntries(keys.map((k, i) => [k, r[i] ?? ''])));
}

export function createCsvModule(ctx: ModuleContext): Record<string, unknown> {
  const parse = async (file: File, opts?: CsvOptions): Promise<readonly unknown[]> => {
    if (!ctx.inInit()) throw new Error('csv: parse() is only available in the init context');
    const { delimiter } = check(file, opts);
    const key = `k6/experimental/csv:${file.path}:${JSON.stringify(opts ?? {})}`;
    let data = ctx.test.sharedArrays.get(key);
    if (data === undefined) {
      const rows = select(parseCsv(file[FILE_BYTES].toString('utf8'), delimiter), opts);
      data = Object.freeze(rows.map((r) => Object.freeze(r)));
      ctx.test.sharedArrays.set(key, data);
    }
    return data;
  };

  class Parser {
    readonly #rows: Array<string[] | Record<string, string>>;
    #next = 0;
    constructor(file: File, opts?: CsvOptions) {
      const { delimiter } = check(file, opts);
      this.#rows = select(parseCsv(file[FILE_BYTES].toString('utf8'), delimiter), opts);
    }
    async next(): Promise<{ done: boolean; value: unknown }> {
      if (this.#next >= this.#rows.length) return { done: true, value: undefined };
      return { done: false, value: this.#rows[this.#next++] };
    }
  }

  // StreamingParser takes a path instead of an fs File (k6 reads it as it goes, for files too
  // large to hold); here the file is read at construction, in the init context, and parsed as
  // Parser does: the same records, from a path.
  class StreamingParser {
    readonly #rows: Array<string[] | Record<string, string>>;
    #next = 0;
    constructor(file: string, opts?: CsvOptions) {
      if (!ctx.inInit()) throw new Error('csv: StreamingParser is only available in the init context');
      if (typeof file !== 'string' || file === '') throw new TypeError('csv: StreamingParser needs a file path');
      const abs = path.resolve(ctx.scriptDir, file);
      let text: string;
      try {
        text = fs.readFileSync(abs, 'utf8');
      } catch {
        throw new Error(`csv: no such file: ${file}`);
      }
      const delimiter = opts?.delimiter ?? ',';
      if (typeof delimiter !== 'string' || delimiter.length !== 1)
        throw new Error(`csv: delimiter must be one character, got '${String(delimiter)}'`);
      this.#rows = select(parseCsv(text, delimiter), opts);
    }
    async next(): Promise<{ done: boolean; value: unknown }> {
      if (this.#next >= this.#rows.length) return { done: true, value: undefined };
      return { done: false, value: this.#rows[this.#next++] };
    }
    close(): void {
      this.#next = this.#rows.length;
    }
  }

  const mod: Record<string, unknown> = { parse, Parser, StreamingParser };
  mod.default = mod;
  return mod;
}
