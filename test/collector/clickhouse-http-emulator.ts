// Enough of ClickHouse's HTTP interface for @clickhouse/client's URL mode, answered by an
// embedded chDB session: /ping, and queries in the `query` parameter and/or the body. INSERT
// data in the body (any format, binary included) is staged in a file and read with FROM INFILE,
// as the server reads it from the request. There is no ClickHouse
// server binary here; this lets the collector's URL mode talk to a real engine over HTTP, and
// lets a test take that "server" away and bring it back.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Session } from 'chdb';

export interface EmulatorOptions {
  /** Every INSERT statement's body, in arrival order. */
  onInsert?: (statement: string, data: Buffer) => void;
}

export class ClickHouseHttpEmulator {
  readonly server: Server;
  readonly session: Session;
  /** When it returns true for an INSERT, the insert fails as a parse error would. */
  refuse: ((statement: string, data: Buffer) => boolean) | undefined;
  /** Milliseconds every INSERT waits before it runs (slow storage). */
  insertDelayMs = 0;
  readonly #staging = mkdtempSync(join(tmpdir(), 'ch-emulator-'));
  #staged = 0;

  constructor(session: Session, opts: EmulatorOptions = {}) {
    this.session = session;
    this.server = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://clickhouse');
        if (url.pathname === '/ping') {
          res.end('Ok.\n');
          return;
        }
        const body = await read(req);
        const inUrl = url.searchParams.get('query');
        const insert = inUrl !== null && /^\s*INSERT/i.test(inUrl) ? inUrl : undefined;
        if (insert !== undefined) {
          opts.onInsert?.(insert, body);
          if (this.insertDelayMs > 0) await new Promise((r) => setTimeout(r, this.insertDelayMs));
          if (this.refuse?.(insert, body) === true) {
            res.writeHead(500, { 'x-clickhouse-exception-code': '27' });
            res.end(
              "Code: 27. DB::Exception: Cannot parse input: expected '\"' before: 'poison': (at row 1). (CANNOT_PARSE_INPUT_ASSERTION_FAILED)",
            );
            return;
          }
        }
        let sql = inUrl ?? body.toString('utf8');
        let staged: string | undefined;
        if (insert !== undefined && body.length > 0) {
          staged = join(this.#staging, `insert-${this.#staged++}`);
          writeFileSync(staged, body);
          sql = insert.replace(/\s+FORMAT\s+/i, ` FROM INFILE '${staged}' FORMAT `);
        } else if (inUrl !== null && body.length > 0) sql = `${inUrl}\n${body.toString('utf8')}`;
        try {
          const result = await this.session.queryAsync(sql);
          const out = Buffer.from(result.bytes());
          const gzip =
            url.searchParams.get('enable_http_compression') === '1' &&
            /gzip/.test(String(req.headers['accept-encoding'] ?? ''));
          res.writeHead(200, {
            'x-clickhouse-summary': JSON.stringify({ read_rows: '0', written_rows: '0' }),
            ...(gzip ? { 'content-encoding': 'gzip' } : {}),
          });
          res.end(gzip ? gzipSync(out) : out);
        } catch (err) {
          const message = (err as Error).message;
          const code = /Code: (\d+)/.exec(message)?.[1] ?? '1';
          res.writeHead(500, { 'x-clickhouse-exception-code': code });
          res.end(message.startsWith('Code:') ? message : `Code: ${code}. DB::Exception: ${message}`);
        } finally {
          if (staged !== undefined) rmSync(staged, { force: true });
        }
      })();
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        rmSync(this.#staging, { recursive: true, force: true });
        resolve();
      });
      this.server.closeAllConnections();
    });
  }
}

function read(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
