// How much CPU the hypervisor took from this machine during a measurement (/proc/stat's steal
// column): on a shared host the other tenants' load comes and goes, and a run with a few
// percent of steal is a disturbed run. Printed beside the figures so a reader can tell.
import { readFileSync } from 'node:fs';

function cpuTimes(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
}

/** Starts counting; the returned function gives the steal percentage of all CPU time since. */
export function stealMeter(): () => number {
  const start = cpuTimes();
  return () => {
    const d = cpuTimes().map((v, i) => v - start[i]!);
    const total = d.reduce((a, b) => a + b, 0);
    return total === 0 ? 0 : Math.round((1000 * d[7]!) / total) / 10;
  };
}
