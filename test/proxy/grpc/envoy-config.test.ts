// An Envoy v3 bootstrap written as Envoy's gRPC guides write them (fixtures/grpc-service.yaml:
// an AUTO listener, `grpc: {}` routes, HTTP/2 clusters) carries, on one port, h2c and HTTP/1.1
// (curl), HTTP/1.1 ↔ HTTP/2 translation, and gRPC with @grpc/grpc-js: statuses and metadata, a
// server stream, a deadline from grpc-timeout, a retry on UNAVAILABLE, UNAVAILABLE for a dead
// upstream; grpc_stats counts it all.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../proxy/index.js';
import { freePort, startTestProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers.js';
import { echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from './fixtures.js';

const run = promisify(execFile);
let echo: EchoServer;
let http1: Upstream;
let proxy: RunningProxy;
let client: EchoClient;

beforeAll(async () => {
  echo = await startEchoServer();
  http1 = await startUpstream('http1');
  let text = readFileSync(fileURLToPath(new URL('./fixtures/grpc-service.yaml', import.meta.url)), 'utf8');
  const ports = { GRPC_PORT: echo.port, DEAD_PORT: await freePort(), HTTP_PORT: http1.port };
  for (const [k, v] of Object.entries(ports)) text = text.replaceAll(`\${${k}}`, String(v));
  proxy = await startTestProxy(parseConfigText(text, 'grpc-service.yaml'));
  client = echoClient(proxy.port);
});

afterAll(async () => {
  client?.close();
  await proxy?.close();
  await http1?.close();
  echo?.close();
});

describe('an Envoy gRPC config', () => {
  it('curl over h2c and over HTTP/1.1 reach the HTTP/1.1 backend on the same port', async () => {
    for (const flag of ['--http2-prior-knowledge', '--http1.1']) {
      const { stdout } = await run('curl', [
        '-s',
        flag,
        '-w',
        '\n%{http_version}',
        `http://127.0.0.1:${proxy.port}/plain`,
      ]);
      const [body, version] = stdout.split('\n') as [string, string];
      expect(JSON.parse(body).upstream).toBe('http1');
      expect(version).toBe(flag === '--http1.1' ? '1.1' : '2');
    }
  });

  it('gRPC: status, metadata, a server stream, a retry and a deadline', async () => {
    const ok = await unary(client, 'from-yaml', { 'x-client': 'y' });
    expect(ok.response?.toString()).toBe('echo:from-yaml:y');
    const failed = await unary(client, 'status:6');
    expect(failed.error?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(failed.error?.metadata.get('x-trailer')).toEqual(['t1']);
    const retried = await unary(client, 'head-unavailable:yaml');
    expect(retried.error).toBeNull();
    expect(echo.calls.get('head-unavailable:yaml')).toBe(2);
    const call = client.download(Buffer.from('5:100000'));
    let messages = 0;
    call.on('data', () => messages++);
    await new Promise((r) => call.on('end', r));
    expect(messages).toBe(5);
    const late = await unary(client, 'hang', {}, { deadline: Date.now() + 400 });
    expect(late.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('a dead upstream is UNAVAILABLE', async () => {
    const r = await unary(client, 'ok', { 'x-target': 'dead' });
    expect(r.error?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('grpc_stats counted the calls per method', async () => {
    const admin = proxy.server.adminAddress()!;
    const text = await (await fetch(`http://127.0.0.1:${admin.port}/stats?filter=grpc_backend.grpc`)).text();
    expect(text).toContain('cluster.grpc_backend.grpc.test.Echo.Download.success: 1');
    expect(text).toMatch(/cluster\.grpc_backend\.grpc\.test\.Echo\.Echo\.6: 1/);
  });
});
