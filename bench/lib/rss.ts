// Peak resident memory of a process tree, from Linux's VmHWM (the kernel's own high-water
// mark, so short peaks between samples are not missed). Children count too: with
// --concurrency N the proxy is N+1 processes.
import { readdirSync, readFileSync } from 'node:fs';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
}

function hwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** Sum of peak RSS (MB) over the process and its descendants. */
export function peakRssMb(pid: number): number {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i]!));
  return Math.round((all.reduce((s, p) => s + hwmKb(p), 0) / 1024) * 10) / 10;
}
