// chDB's library (libchdb.so, ~520 MiB of code and read-only data) is mapped from its file, and
// loading it runs static initialisers across thousands of translation units: ~175 MiB of its
// pages are resident once the engine has started, while the collector under load touches a few
// tens of MiB of them (bench:collector's libchdbFilePagesAfterLoad). Those pages count in the
// process's resident set, and the kernel takes them back only under memory pressure.
//
// Once the engine has started, madvise(MADV_DONTNEED) on the library's read-only mappings drops
// them from the process's page tables: they stay in the page cache, and a page the engine needs
// again comes back by a minor fault (the kernel's fault-around maps up to 64 KiB around it). Node
// cannot call madvise; koffi (an FFI with its prebuilt binaries in its npm package) can, through
// shared/file-pages.ts, which the proxy uses for Node's binary.
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

import { isNodeBinary, type ReleasedPages, releaseReadOnlyFilePages } from '../../../shared/file-pages.js';

/** chDB's library and Node's binary, as /proc/self/maps names them. */
function startOnlyFiles(): (path: string) => boolean {
  const node = isNodeBinary();
  return (path) => path.endsWith('/libchdb.so') || node(path);
}

/**
 * Gives back the start-only pages of chDB's library and Node's binary. Call once the engine has
 * started. Throws where madvise cannot be called (no koffi); Linux only.
 */
export function releaseEngineLibraryPages(matches = startOnlyFiles()): ReleasedPages {
  return releaseReadOnlyFilePages(matches);
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
