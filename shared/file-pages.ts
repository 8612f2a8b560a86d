// Gives back the pages of a mapped file (Node's own binary, chDB's library) that a process's start
// touched and its steady state does not use: one mechanism for the proxy and the collector.
//
// /usr/bin/node is ~95 MB of code and read-only data mapped from its file. Starting a process
// (V8's parser and compilers at full stretch while the modules load, the snapshot, ICU's data,
// the config's validation) leaves ~39 MB of it resident, and the kernel takes those pages back
// only under memory pressure, so they count in the process's RSS for its whole life. A proxy
// under load runs far less of it: measured under wrk -c50 (meshscope proxy --concurrency 1,
// bench:proxy's bootstrap), 21-22 MB of the binary come back once they are dropped, against
// 40.5 MB resident when they are not.
//
// madvise(MADV_DONTNEED) on the binary's read-only private mappings drops their pages from the
// process's page tables: they stay in the page cache, and a page the process runs again comes
// back by a minor fault (the kernel maps up to 64 KiB around it). Only mappings without a
// private copy of any page (smaps' Anonymous: 0) are given back: on a written or relocated
// mapping DONTNEED would discard the private data itself. Node cannot call madvise; koffi (an
// FFI with prebuilt binaries in its npm package) can, and is loaded only here. The collector
// gives chDB's library back the same way (collector/storage/clickhouse/library-pages.ts says what
// that measured).
//
// What it does not change: the page cache, so the machine's memory and a cgroup's charge (which
// counts page cache whether mapped or not). It lowers the process's RSS, and its peak (VmHWM)
// when the peak comes under load rather than at start.
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Linux's MADV_DONTNEED (the same value on every architecture Node's prebuilt binaries cover). */
const MADV_DONTNEED = 4;

export interface FileMapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKb: number;
  anonymousKb: number;
}

export interface ReleasedPages {
  /** Resident bytes of the files' read-only private mappings before. */
  residentBytes: number;
  /** Of those, the bytes dropped from the process's page tables. */
  releasedBytes: number;
  /** Mappings given back. */
  mappings: number;
}

/** The mappings of the files `matches` accepts, from smaps' text (this process's by default). */
export function fileMappings(
  matches: (path: string) => boolean,
  smaps = readFileSync('/proc/self/smaps', 'utf8'),
): FileMapping[] {
  const out: FileMapping[] = [];
  let current: FileMapping | undefined;
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      current = {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3]!,
        path: head[4]!,
        rssKb: 0,
        anonymousKb: 0,
      };
      if (matches(current.path)) out.push(current);
      else current = undefined;
    } else if (current !== undefined) {
      if (line.startsWith('Rss:')) current.rssKb = Number.parseInt(line.slice(4), 10);
      else if (line.startsWith('Anonymous:')) current.anonymousKb = Number.parseInt(line.slice(10), 10);
    }
  }
  return out;
}

/** Node's own binary, as /proc/self/maps names it. */
export function isNodeBinary(): (path: string) => boolean {
  const node = realpathSync(process.execPath);
  return (path) => path === node;
}

type Madvise = (addr: bigint, length: bigint, advice: number) => number;

let madvise: Madvise | undefined;

/** libc's madvise through koffi; throws where koffi or its binary for this platform is missing. */
function loadMadvise(): Madvise {
  if (madvise === undefined) {
    // Required here, not imported: a process that never releases pages never loads koffi, and
    // one on a platform koffi has no binary for runs without it.
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    // The process's own symbol scope: glibc's or musl's madvise, whichever libc Node runs on.
    madvise = koffi.load(null).func('int madvise(uintptr_t addr, size_t length, int advice)') as Madvise;
  }
  return madvise;
}

/**
 * Drops the resident pages of the read-only private mappings of the files `matches` accepts from
 * this process (they stay in the page cache). Only mappings without a page of their own
 * (Anonymous: 0) are touched. Reads smaps (a few ms): call it once a process has started, never in
 * a request's path. Throws where it cannot run (no koffi, no /proc); Linux only.
 */
export function releaseReadOnlyFilePages(matches: (path: string) => boolean): ReleasedPages {
  const call = loadMadvise();
  const result: ReleasedPages = { residentBytes: 0, releasedBytes: 0, mappings: 0 };
  for (const m of fileMappings(matches)) {
    // r--p / r-xp: read-only and private.
    if (m.perms[1] !== '-' || m.perms[3] !== 'p') continue;
    result.residentBytes += m.rssKb * 1024;
    if (m.anonymousKb !== 0 || m.rssKb === 0) continue;
    if (call(m.start, m.end - m.start, MADV_DONTNEED) !== 0) continue;
    result.releasedBytes += m.rssKb * 1024;
    result.mappings++;
  }
  return result;
}

/**
 * Gives back Node's binary's pages (releaseReadOnlyFilePages). Returns the bytes dropped, or null
 * where it cannot run (not Linux, no koffi, no /proc): the process works the same with those pages
 * resident.
 */
export function releaseNodeBinaryPages(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    return releaseReadOnlyFilePages(isNodeBinary()).releasedBytes;
  } catch {
    return null;
  }
}
