// Readiness probes: an HTTP GET that must answer 2xx, or a TCP connect that must succeed.
// Each attempt is bounded by a short timeout so a hung component never stalls the supervisor.
import http from 'node:http';
import net from 'node:net';

export type Probe =
  | { kind: 'http'; url: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'all'; probes: Probe[] };

const ATTEMPT_TIMEOUT_MS = 1000;

export async function probeOnce(p: Probe): Promise<boolean> {
  if (p.kind === 'all') return (await Promise.all(p.probes.map(probeOnce))).every(Boolean);
  return new Promise((resolve) => {
    if (p.kind === 'tcp') {
      const socket = net.connect({ host: p.host, port: p.port });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(ATTEMPT_TIMEOUT_MS, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      return;
    }
    const req = http.get(p.url, { timeout: ATTEMPT_TIMEOUT_MS, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

export function describeProbe(p: Probe): string {
  if (p.kind === 'all') return p.probes.map(describeProbe).join(' + ');
  return p.kind === 'http' ? `GET ${p.url}` : `tcp ${p.host}:${p.port}`;
}
