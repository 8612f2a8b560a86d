// Pre-flight: every port the mesh will listen on must be free, or a component would fail to
// bind (or, worse, a stale process from another run would answer its readiness probe).
import net from 'node:net';
import { UpPortInUseError } from './errors.js';
import type { ComponentSpec } from './plan.js';

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function assertPortsFree(specs: readonly ComponentSpec[]): Promise<void> {
  const wanted = specs.flatMap((s) => s.ports.map((p) => ({ component: s.name, name: p.name, port: p.port })));
  const checks = await Promise.all(wanted.map(async (w) => ({ ...w, free: await free(w.port) })));
  const busy = checks.filter((c) => !c.free);
  if (busy.length > 0) {
    throw new UpPortInUseError(
      `ports already in use: ${busy.map((b) => `${b.port} (${b.component} ${b.name})`).join(', ')}; stop what holds them (another meshscope up?) or use another mesh file`,
    );
  }
}
