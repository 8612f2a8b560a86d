// k6/experimental/fs: open() a file in the init context and read it from iterations with
// read/seek/stat/readAll (openSync() for init code that cannot await; close() ends a File's
// use), each File with its own offset. As in k6, a file's bytes are read once per
// test and shared by every VU (read-only), which open() of a large file in each VU would not be.
import { types } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModuleContext, TestContext } from '../context.js';

const SeekMode = Object.freeze({ Start: 0, Current: 1, End: 2 });

/** File contents by absolute path, per test. */
const contents = new WeakMap<TestContext, Map<string, Buffer>>();

/** A File's whole contents, for modules that read files opened with k6/experimental/fs (csv). */
export const FILE_BYTES = Symbol('file bytes');

export class File {
  readonly path: string;
  readonly #data: Buffer;
  #offset = 0;
  #closed = false;

  constructor(p: string, data: Buffer) {
    this.path = p;
    this.#data = data;
  }

  get [FILE_BYTES](): Buffer {
    return this.#data;
  }

  #open(op: string): void {
    if (this.#closed) throw new Error(`fs: ${op}() on a closed file: ${path.basename(this.path)}`);
  }

  /** Fills `buffer` from the offset; resolves with the bytes read, or null at the end of the file. */
  async read(buffer: Uint8Array): Promise<number | null> {
    this.#open('read');
    if (!types.isUint8Array(buffer)) throw new TypeError('fs: read() needs a Uint8Array');
    if (this.#offset >= this.#data.length) return null;
    const n = this.#data.copy(buffer, 0, this.#offset, Math.min(this.#data.length, this.#offset + buffer.length));
    this.#offset += n;
    return n;
  }

  async seek(offset: number, whence: number = SeekMode.Start): Promise<number> {
    this.#open('seek');
    const base =
      whence === SeekMode.Start
        ? 0
        : whence === SeekMode.Current
          ? this.#offset
          : whence === SeekMode.End
            ? this.#data.length
            : Number.NaN;
    if (Number.isNaN(base))
      throw new TypeError(`fs: seek() whence must be SeekMode.Start, Current or End, got ${whence}`);
    const next = base + Number(offset);
    if (!Number.isInteger(next) || next < 0)
      throw new RangeError(`fs: seek() to ${next} is before the start of the file`);
    this.#offset = next;
    return next;
  }

  /** The rest of the file from the offset, as an ArrayBuffer; the offset moves to the end. */
  async readAll(): Promise<ArrayBuffer> {
    this.#open('readAll');
    const start = Math.min(this.#offset, this.#data.length);
    this.#offset = this.#data.length;
    const rest = this.#data.subarray(start);
    return rest.buffer.slice(rest.byteOffset, rest.byteOffset + rest.length) as ArrayBuffer;
  }

  async stat(): Promise<{ name: string; size: number }> {
    this.#open('stat');
    return { name: path.basename(this.path), size: this.#data.length };
  }

  /** Ends this File's use (reads after it fail); the shared contents stay for the other VUs. */
  close(): void {
    this.#closed = true;
  }
}

export function createFsModule(ctx: ModuleContext): Record<string, unknown> {
  /** open() without the promise: the same File, for init code that cannot await. */
  const openSync = (file: string): File => {
    if (!ctx.inInit()) throw new Error('fs: openSync() is only available in the init context');
    if (typeof file !== 'string' || file === '') throw new TypeError('fs: openSync() needs a path');
    const abs = path.resolve(ctx.scriptDir, file);
    let cache = contents.get(ctx.test);
    if (cache === undefined) contents.set(ctx.test, (cache = new Map()));
    let data = cache.get(abs);
    if (data === undefined) {
      let st: fs.Stats;
      try {
        st = fs.statSync(abs);
      } catch {
        throw new Error(`fs: no such file: ${file}`);
      }
      if (st.isDirectory()) throw new Error(`fs: ${file} is a directory`);
      data = fs.readFileSync(abs);
      cache.set(abs, data);
    }
    return new File(abs, data);
  };
  const open = async (file: string): Promise<File> => {
    if (!ctx.inInit()) throw new Error('fs: open() is only available in the init context');
    if (typeof file !== 'string' || file === '') throw new TypeError('fs: open() needs a path');
    return openSync(file);
  };
  const mod: Record<string, unknown> = { open, openSync, SeekMode, File };
  mod.default = mod;
  return mod;
}
