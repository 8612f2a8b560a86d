// The state file `meshscope up` keeps in its state directory, so `meshscope status` in another
// terminal sees the same components, pids and ports. Written atomically (temp file + rename).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Probe } from './probes.js';
import type { ComponentStatus } from './supervisor.js';

export interface StateComponent extends ComponentStatus {
  probe: Probe;
}

/** Something `meshscope up` told its terminal, kept for `meshscope status`. */
export interface UpEvent {
  at: string;
  kind: 'ready' | 'crash' | 'recovered' | 'mesh-edit-applied' | 'mesh-edit-refused';
  component?: string;
  message: string;
}

export interface MeshState {
  version: 1;
  /** The `meshscope up` process. */
  pid: number;
  startedAt: string;
  mesh: string;
  ready: boolean;
  components: StateComponent[];
  /** The most recent events, oldest first. */
  events?: UpEvent[];
}

export const stateFile = (stateDir: string): string => join(stateDir, 'state.json');

export function writeState(stateDir: string, state: MeshState): void {
  const file = stateFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

export function removeState(stateDir: string): void {
  rmSync(stateFile(stateDir), { force: true });
}

/** The state, or null when no file exists. A file that does not parse is an error naming it. */
export function readState(stateDir: string): MeshState | null {
  let text: string;
  try {
    text = readFileSync(stateFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as MeshState;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
