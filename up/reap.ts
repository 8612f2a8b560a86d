// Stopping what a `meshscope up` left behind: every component runs as the leader of its own
// process group (spawned detached), so signalling the group reaches what it forked too (a
// proxy's workers). Shared by the reaper (up was killed) and `meshscope down` (up is gone
// but its state file names live components).
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from './state.js';

const POLL_MS = 50;

/** Sends `signal` to the process group led by `pid`, falling back to the process alone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to every group, SIGKILL to those still alive after `graceMs`; resolves when all are gone. */
export async function terminateGroups(pids: readonly number[], graceMs: number): Promise<void> {
  for (const pid of pids) signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let alive = pids.filter(processAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS);
    alive = alive.filter(processAlive);
  }
  for (const pid of alive) signalGroup(pid, 'SIGKILL');
  while (alive.length > 0) {
    await sleep(POLL_MS);
    alive = alive.filter(processAlive);
  }
}
