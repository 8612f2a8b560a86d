// The reaper: a small process `meshscope up` starts beside its components, holding the read
// end of a pipe whose write end only up holds. When up ends in any way, `kill -9` included,
// the kernel closes that end and the reaper reads end-of-file at once; if up's state file
// still names components (up did not stop them itself), it stops their process groups and
// removes the state, then exits. Linux's PR_SET_PDEATHSIG would do this per child, but Node
// cannot set it, and Prometheus is not a Node process that could watch its parent.
//
//   node reaper.js <state dir> <up pid>
import { readState, removeState } from './state.js';
import { terminateGroups } from './reap.js';

const GRACE_MS = 5_000;

const [stateDir, upPid] = process.argv.slice(2);
if (stateDir === undefined || upPid === undefined) {
  process.stderr.write('usage: reaper.js <state dir> <up pid>\n');
  process.exit(2);
}

async function reap(): Promise<void> {
  const state = readState(stateDir!);
  // A state file of another up (this one stopped cleanly and a new one started) is not ours.
  if (state === null || String(state.pid) !== upPid) return;
  const pids = state.components.flatMap((c) => (c.pid === null ? [] : [c.pid]));
  await terminateGroups(pids, GRACE_MS);
  removeState(stateDir!);
}

process.stdin.resume();
process.stdin.on('close', () => {
  reap().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`meshscope reaper: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
});
