// chDB's library (libchdb.so, ~520 MiB of code and read-only data) is mapped from its file, and
// loading it runs static initialisers across thousands of translation units: ~175 MiB of its
// pages are resident once the engine has started, while the collector under load touches a few
// tens of MiB of them (bench:collector's libchdbFilePagesAfterLoad). Those pages count in the
// process's resident set, and the kernel takes them back only under memory pressure.
//
// Once the engine has started, madvise(MADV_DONTNEED) on the library's read-only mappings drops
// them from the process's page tables: they stay in the page cache, and a page the engine needs
// again comes back by a minor fault (the kernel's fault-around maps up to 64 KiB around it). Node
// cannot call madvise; koffi (an FFI with its prebuilt binaries in its npm package) can.
// Only read-only mappings without a private copy of any page (smaps' Anonymous: 0) are given
// back: on a writable or relocated mapping DONTNEED would discard the private data itself.
//
// What it does not change: the file's pages stay in the page cache, so the machine's memory is
// the same, and a cgroup's memory charge counts page cache whether mapped or not; it lowers the
// process's RSS (and its peak under load), which is what ps, top, a Kubernetes RSS metric and the
// collector's own goal read.
//
// Once, not periodically: given back again every 5 s (smaps read and madvise on libuv's pool),
// the pages at bench:collector's peak fell further (libchdb.so 99 -> 56-66 MB, node 26 -> 17-22,
// peak RSS medians sidecar 448 -> 416, synthetic 419 -> 383 in 4 pairs), but the engine's hot
// code faulted back after every round cost CPU: per 100k spans 1.20 -> 1.33 and 1.03 -> 1.18,
// stored rate and ack p99 worse (p99 medians 439 -> 519 and 431 -> 575 ms), in this pairing and
// in an earlier 3-pair one. malloc_trim(0) every second (glibc's heap) changed nothing at the
// peak (malloc's heap at the peak 57 -> 63, 44 -> 41 MB: what it holds then is live).
//
// Node's own binary is given back the same way: ~41 MB of it are resident after start (V8,
// its snapshot, ICU's data), ~27 MB under load (bench:collector's nodeBinaryFileMb at the peak).

import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Linux's MADV_DONTNEED (the same value on every architecture Node's prebuilt binaries cover). */
const MADV_DONTNEED = 4;

export interface ReleasedPages {
  /** Resident bytes of the library's read-only mappings before. */
  residentBytes: number;
  /** Of those, the bytes dropped from the process's page tables. */
  releasedBytes: number;
  /** Mappings given back. */
  mappings: number;
}

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKb: number;
  anonymousKb: number;
}

/** The process's mappings of the files `matches` accepts, from /proc/self/smaps. */
export function fileMappings(
  matches: (path: string) => boolean,
  smaps = readFileSync('/proc/self/smaps', 'utf8'),
): Mapping[] {
  const out: Mapping[] = [];
  let current: Mapping | undefined;
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

type Madvise = (addr: bigint, length: bigint, advice: number) => number;

let madvise: Madvise | undefined;

/** libc's madvise through koffi; throws where koffi or its binary for this platform is missing. */
function loadMadvise(): Madvise {
  if (madvise === undefined) {
    // Required here, not imported: the collector runs without it (a platform koffi has no
    // prebuilt binary for, an install that skipped optional dependencies).
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    // The process's own symbol scope: glibc's or musl's madvise, whichever libc Node runs on.
    madvise = koffi.load(null).func('int madvise(uintptr_t addr, size_t length, int advice)') as Madvise;
  }
  return madvise;
}

/** chDB's library and Node's binary, as /proc/self/maps names them. */
function startOnlyFiles(): (path: string) => boolean {
  const node = realpathSync(process.execPath);
  return (path) => path.endsWith('/libchdb.so') || path === node;
}

/**
 * Drops the resident pages of the read-only mappings of chDB's library and Node's binary from
 * the process (they stay in the page cache). Call once the engine has started; not in the
 * request path (it reads smaps, ~2-5 ms). Throws where madvise cannot be called (no koffi);
 * Linux only.
 */
export function releaseEngineLibraryPages(matches = startOnlyFiles()): ReleasedPages {
  const call = loadMadvise();
  const result: ReleasedPages = { residentBytes: 0, releasedBytes: 0, mappings: 0 };
  for (const m of fileMappings(matches)) {
    // r--p / r-xp: read-only and private (neither file is mapped shared).
    if (m.perms[1] !== '-' || m.perms[3] !== 'p') continue;
    result.residentBytes += m.rssKb * 1024;
    if (m.anonymousKb !== 0 || m.rssKb === 0) continue;
    if (call(m.start, m.end - m.start, MADV_DONTNEED) !== 0) continue;
    result.releasedBytes += m.rssKb * 1024;
    result.mappings++;
  }
  return result;
}

let warned = false;

/**
 * releaseEngineLibraryPages where it can run; elsewhere one warning per process and nothing
 * else: the collector works the same, with those pages resident.
 */
export function releaseEngineLibraryPagesOrWarn(): ReleasedPages | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return releaseEngineLibraryPages();
  } catch (err) {
    if (!warned) {
      warned = true;
      process.emitWarning(
        `collector: chDB's library pages touched at start stay resident (~175 MB of RSS): madvise through koffi is not available (${(err as Error).message})`,
      );
    }
    return undefined;
  }
}
