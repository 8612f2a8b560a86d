// Embedded chDB's threads run below the event loop's priority. Every ack waits for the event
// loop (reading, decoding, the log's write completing); chDB's threads store, merge and keep
// time, where a few milliseconds more matter to no one. On a machine with few cores they
// compete for the same CPU: an insert's pipeline and a merge can take the cores the event
// loop needs, and acks wait behind them. A thread's nice value on Linux is its own
// (setpriority on a thread id), raising it needs no privilege, and the scheduler still gives
// a niced thread every cycle nobody else wants: stored throughput is unchanged on an idle
// core, only the order changes when the cores are contended (the nice value is the collector's
// embeddedThreadNice).
//
// chDB names its threads (ThreadPool, MergeMutate, BgSchPool …); Node's own (the event loop,
// libuv's pool, V8's helpers) keep the process name. A new thread takes its creator's nice
// value, and chDB starts pool threads on demand from the thread running a statement (one of
// libuv's, left alone: it also runs the log's writes), so the threads are looked at again
// after every insert and on a slow timer.

import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const TASKS = '/proc/self/task';

export class EngineThreadPriority {
  /** The nice value chDB's threads get: `below` levels under the event loop's own, at most 19. */
  readonly #nice: number;
  readonly #below: number;
  /** The process's own name: threads still carrying it are Node's. */
  readonly #nodeName: string;
  /** Thread ids already reniced, so a rescan reads only new ones. */
  #seen = new Set<string>();
  readonly #timer: NodeJS.Timeout | undefined;

  /**
   * `below`: how many nice levels chDB's threads run under the calling (event loop) thread's
   * priority, e.g. 5 on a collector started at nice 0 or 15 under `nice -n 10` (0 leaves them
   * alone). Relative, so an operator's own nice is never undone.
   */
  constructor(below: number, rescanMs = 2000) {
    this.#below = below;
    this.#nice = below === 0 ? 0 : Math.min(19, getPriority() + below);
    let name = '';
    try {
      name = readFileSync('/proc/self/comm', 'utf8').trim();
    } catch {
      // Not Linux: nothing to do.
    }
    this.#nodeName = name;
    if (below === 0 || name === '') return;
    this.apply();
    this.#timer = setInterval(() => this.apply(), rescanMs);
    this.#timer.unref();
  }

  /** Renices chDB's threads not seen yet; returns how many it reniced. */
  apply(): number {
    if (this.#below === 0 || this.#nodeName === '') return 0;
    let tids: string[];
    try {
      tids = readdirSync(TASKS);
    } catch {
      return 0;
    }
    let reniced = 0;
    const live = new Set<string>();
    for (const tid of tids) {
      live.add(tid);
      if (this.#seen.has(tid)) continue;
      let comm: string;
      try {
        comm = readFileSync(`${TASKS}/${tid}/comm`, 'utf8').trim();
      } catch {
        continue; // exited meanwhile
      }
      // Node's, or one of chDB's not named yet (it starts with its creator's name): looked at again next time.
      if (comm === this.#nodeName) continue;
      this.#seen.add(tid);
      try {
        setPriority(Number(tid), this.#nice);
        reniced++;
      } catch {
        // Exited meanwhile, or not allowed: it keeps its priority.
      }
    }
    // Ids of exited threads may be reused by new ones.
    if (live.size < this.#seen.size) this.#seen = new Set([...this.#seen].filter((t) => live.has(t)));
    return reniced;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}
