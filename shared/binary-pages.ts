// Gives back the pages of Node's own binary that a process's start touched and its steady state
// does not use.
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
// FFI with prebuilt binaries in its npm package) can, and is loaded only here. The collector's
// chDB library pages (rss13's collector/storage/clickhouse/library-pages.ts) are given back the
// same way.
//
// What it does not change: the page cache, so the machine's memory and a cgroup's charge (which
// counts page cache whether mapped or not). It lowers the process's RSS, and its peak (VmHWM)
// when the peak comes under load rather than at start.
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Linux's MADV_DONTNEED (the same value on every architecture Node's prebuilt binaries cover). */
const MADV_DONTNEED = 4;

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKb: number;
  anonymousKb: number;
}

/** The mappings of the file at `path`, from smaps' text. */
export function mappingsOf(path: string, smaps: string): Mapping[] {
  const out: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      current =
        head[4] === path
          ? {
              start: BigInt(`0x${head[1]}`),
              end: BigInt(`0x${head[2]}`),
              perms: head[3]!,
              path,
              rssKb: 0,
              anonymousKb: 0,
            }
          : undefined;
      if (current !== undefined) out.push(current);
    } else if (current !== undefined) {
      if (line.startsWith('Rss:')) current.rssKb = Number.parseInt(line.slice(4), 10);
      else if (line.startsWith('Anonymous:')) current.anonymousKb = Number.parseInt(line.slice(10), 10);
    }
  }
  return out;
}

type Madvise = (addr: bigint, length: bigint, advice: number) => number;

let madvise: Madvise | null | undefined;

/** libc's madvise through koffi, or null where koffi (or its binary for this platform) is missing. */
function loadMadvise(): Madvise | null {
  if (madvise === undefined) {
    try {
      // Required here, not imported: a process that never releases pages never loads koffi.
      const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
      // The process's own symbol scope: glibc's or musl's madvise, whichever libc Node runs on.
      madvise = koffi.load(null).func('int madvise(uintptr_t addr, size_t length, int advice)') as Madvise;
    } catch {
      madvise = null;
    }
  }
  return madvise;
}

/**
 * Drops the resident pages of Node's binary's read-only private mappings from this process (they
 * stay in the page cache). Returns the bytes dropped, or null where it cannot run (not Linux, no
 * koffi, no /proc): the process works the same with those pages resident. Reads smaps (a few ms): call it
 * once a process has started, never in a request's path.
 */
export function releaseNodeBinaryPages(): number | null {
  if (process.platform !== 'linux') return null;
  const call = loadMadvise();
  if (call === null) return null;
  let maps: Mapping[];
  try {
    maps = mappingsOf(realpathSync(process.execPath), readFileSync('/proc/self/smaps', 'utf8'));
  } catch {
    // No /proc (a sandbox that hides it): nothing is given back, nothing else changes.
    return null;
  }
  let released = 0;
  for (const m of maps) {
    // r--p / r-xp: read-only and private, with no page of its own.
    if (m.perms[1] !== '-' || m.perms[3] !== 'p' || m.anonymousKb !== 0 || m.rssKb === 0) continue;
    if (call(m.start, m.end - m.start, MADV_DONTNEED) === 0) released += m.rssKb * 1024;
  }
  return released;
}
