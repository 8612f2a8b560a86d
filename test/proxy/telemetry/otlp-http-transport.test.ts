// The proxy's OTLP/HTTP transport against a real HTTP server: what reaches the collector, how
// each kind of answer is classified (the SDK's HTTP transport semantics), the SDK's retry
// policy on top, and keep-alive reuse.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { OtlpHttpTransport } from '../../../proxy/telemetry/otlp-http-transport.js';
import { RetryingTransport } from '../../../proxy/telemetry/retrying-transport.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: Buffer;
  remotePort: number;
}

const servers: Server[] = [];
const transports: OtlpHttpTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) t.shutdown();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A collector answering each request with `answer(n)` (n counts from 0), recording what it got. */
async function collector(
  answer: (n: number, res: ServerResponse) => void,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks), remotePort: req.socket.remotePort ?? 0 });
      answer(received.length - 1, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/v1/traces`, received };
}

function transport(url: string, compression: 'gzip' | 'none' = 'none'): OtlpHttpTransport {
  const t = new OtlpHttpTransport({
    url,
    headers: async () => ({ 'Content-Type': 'application/x-protobuf', 'x-tenant': 'mesh' }),
    compression,
  });
  transports.push(t);
  return t;
}

const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));

describe('OTLP/HTTP transport', () => {
  it('POSTs the bytes with the configured headers, and reuses the kept-alive connection', async () => {
    const c = await collector((_, res) =>
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from([1, 2])),
    );
    const t = transport(c.url);
    const first = await t.send(payload, 5000);
    const second = await t.send(payload.subarray(0, 10), 5000);
    expect(first).toEqual({ status: 'success', data: Buffer.from([1, 2]) });
    expect(second.status).toBe('success');
    expect(c.received).toHaveLength(2);
    expect(c.received[0]!.body.equals(payload)).toBe(true);
    expect(c.received[1]!.body.equals(payload.subarray(0, 10))).toBe(true);
    expect(c.received[0]!.headers['content-type']).toBe('application/x-protobuf');
    expect(c.received[0]!.headers['x-tenant']).toBe('mesh');
    expect(c.received[0]!.headers['content-length']).toBe(String(payload.length));
    expect(c.received[1]!.remotePort).toBe(c.received[0]!.remotePort);
  });

  it('gzip compression sends Content-Encoding: gzip and a body that inflates to the bytes', async () => {
    const c = await collector((_, res) => res.end());
    expect((await transport(c.url, 'gzip').send(payload, 5000)).status).toBe('success');
    expect(c.received[0]!.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(c.received[0]!.body).equals(payload)).toBe(true);
  });

  it('429/503 are retryable (with Retry-After), other statuses fail with the body, and the connection survives', async () => {
    const c = await collector((n, res) => {
      if (n === 0) res.writeHead(503, { 'retry-after': '7' }).end();
      else if (n === 1) res.writeHead(429).end();
      else res.writeHead(400).end('bad resource');
    });
    const t = transport(c.url);
    expect(await t.send(payload, 5000)).toEqual({ status: 'retryable', retryInMillis: 7000 });
    expect(await t.send(payload, 5000)).toEqual({ status: 'retryable', retryInMillis: undefined });
    const failed = await t.send(payload, 5000);
    expect(failed.status).toBe('failure');
    const error = (failed as { error: OTLPExporterError }).error;
    expect(error).toBeInstanceOf(OTLPExporterError);
    expect(error.code).toBe(400);
    expect(error.data).toBe('bad resource');
    expect(new Set(c.received.map((r) => r.remotePort)).size).toBe(1);
  });

  it('a collector that never answers times out as retryable; a refused connection is retryable', async () => {
    const hanging = await collector(() => undefined);
    const timedOut = await transport(hanging.url).send(payload, 200);
    expect(timedOut.status).toBe('retryable');
    expect((timedOut as { error: Error }).error.message).toMatch(/timed out/);

    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const refused = await transport(`http://127.0.0.1:${port}/v1/traces`).send(payload, 2000);
    expect(refused.status).toBe('retryable');
    expect((refused as { error: NodeJS.ErrnoException }).error.code).toBe('ECONNREFUSED');
  });

  it('a malformed response fails, naming it', async () => {
    const raw = createTcpServer((s) => s.once('data', () => s.end('HTTP/1.1 2x0 nope\r\n\r\n')));
    servers.push(raw as unknown as Server);
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const result = await transport(`http://127.0.0.1:${(raw.address() as { port: number }).port}/v1/traces`).send(
      payload,
      2000,
    );
    expect(result.status).toBe('failure');
    expect((result as { error: Error }).error.message).toMatch(/malformed response from the collector/);
  });

  it('with the SDK retry policy, a 503 carrying Retry-After is retried and then succeeds', async () => {
    const c = await collector((n, res) => (n === 0 ? res.writeHead(503, { 'retry-after': '1' }).end() : res.end()));
    const started = Date.now();
    const result = await new RetryingTransport(transport(c.url)).send(payload, 10_000);
    expect(result.status).toBe('success');
    expect(c.received).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not retry past the export timeout', async () => {
    const c = await collector((_, res) => res.writeHead(503, { 'retry-after': '30' }).end());
    const result = await new RetryingTransport(transport(c.url)).send(payload, 2000);
    expect(result).toEqual({ status: 'retryable', retryInMillis: 30_000 });
    expect(c.received).toHaveLength(1);
  });
});
