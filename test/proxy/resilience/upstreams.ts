// Misbehaving upstream servers on 127.0.0.1 for resilience tests: each answers according to a
// mode the test switches at any time (healthy, 5xx, reset, stall, slow body, delayed), can be
// stopped and brought back on the same port, and counts what it received.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type UpstreamMode =
  | { kind: 'ok'; status?: number; body?: string }
  | { kind: 'status'; status: number }
  | { kind: 'reset' }
  | { kind: 'stall' }
  | { kind: 'delay'; ms: number }
  | { kind: 'slow_body'; chunks: number; intervalMs: number };

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export class TestUpstream {
  readonly name: string;
  mode: UpstreamMode = { kind: 'ok' };
  port = 0;
  readonly seen: SeenRequest[] = [];
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(name: string) {
    this.name = name;
  }

  get count(): number {
    return this.seen.length;
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** The host dies: listener closed, every connection destroyed. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The host comes back on the same port. */
  async restart(): Promise<void> {
    await this.start(this.port);
  }

  #later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      const mode = this.mode;
      res.setHeader('x-upstream', this.name);
      switch (mode.kind) {
        case 'ok':
          res.writeHead(mode.status ?? 200, { 'content-type': 'text/plain' }).end(mode.body ?? this.name);
          return;
        case 'status':
          res.writeHead(mode.status, { 'content-type': 'text/plain' }).end(`${this.name} says ${mode.status}`);
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'stall':
          return;
        case 'delay':
          this.#later(() => res.writeHead(200).end(this.name), mode.ms);
          return;
        case 'slow_body': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          let sent = 0;
          const tick = (): void => {
            if (res.destroyed) return;
            res.write(`${sent}.`);
            if (++sent === mode.chunks) res.end();
            else this.#later(tick, mode.intervalMs);
          };
          tick();
          return;
        }
      }
    });
  }
}

export async function startUpstreams(...names: string[]): Promise<TestUpstream[]> {
  return Promise.all(names.map((n) => new TestUpstream(n).start()));
}
