// One micro-benchmark: `fn` run for a fixed number of iterations (BENCH_ITERATIONS, 300,000)
// after a warm-up. Wall time per op, and CPU time per op (process.cpuUsage: user + system),
// which on a shared host moves less with the other tenants' load than wall time does.
export const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300_000);

export interface MicroResult {
  name: string;
  opsPerSecond: number;
  nsPerOp: number;
  cpuNsPerOp: number;
}

export function measure(name: string, fn: () => void): MicroResult {
  for (let i = 0; i < 20_000; i++) fn();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn();
  const ns = Number(process.hrtime.bigint() - start);
  const used = process.cpuUsage(cpu);
  return {
    name,
    opsPerSecond: Math.round((ITERATIONS / ns) * 1e9),
    nsPerOp: Math.round(ns / ITERATIONS),
    cpuNsPerOp: Math.round(((used.user + used.system) * 1000) / ITERATIONS),
  };
}
