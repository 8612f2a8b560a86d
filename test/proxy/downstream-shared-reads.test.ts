// The HTTP/1 server codec reads a plaintext downstream connection into the worker's shared read
// buffer (RawBufferSocket.readWith): body bytes must reach the upstream intact even when many
// connections' reads land in one event-loop turn, and bytes a listener filter or codec_type
// AUTO's preface detection read first must still come before the rest.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap, request, startTestProxy, startUpstream, staticCluster, type RunningProxy } from './helpers.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const routes = [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] }];

describe('downstream reads into the shared buffer', () => {
  let echo: Awaited<ReturnType<typeof startUpstream>>;
  let proxy: RunningProxy;
  let inspected: RunningProxy;

  beforeAll(async () => {
    // Answers with the hash and length of the body it received.
    echo = await startUpstream('echo', (_req, res, body) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${sha256(body)} ${body.length}`);
    });
    const clusters = [staticCluster({ name: 'echo', ports: [echo.port] })];
    proxy = await startTestProxy(bootstrap({ virtualHosts: routes, clusters }));
    const withInspector = bootstrap({ virtualHosts: routes, clusters }) as {
      static_resources: { listeners: Array<Record<string, unknown>> };
    };
    withInspector.static_resources.listeners[0]!['listener_filters'] = [
      {
        name: 'envoy.filters.listener.http_inspector',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
        },
      },
    ];
    inspected = await startTestProxy(withInspector);
  });

  afterAll(async () => {
    await Promise.all([proxy?.close(), inspected?.close()]);
    await echo?.close();
  });

  it('forwards concurrent large uploads byte for byte', async () => {
    // Sixteen 300 KB bodies at once: each arrives in many reads, interleaved with the others'.
    const bodies = Array.from({ length: 16 }, () => randomBytes(300 * 1024));
    const responses = await Promise.all(bodies.map((body) => request(proxy.port, '/upload', { method: 'POST', body })));
    for (let i = 0; i < bodies.length; i++) {
      expect(responses[i]!.status).toBe(200);
      expect(responses[i]!.body).toBe(`${sha256(bodies[i]!)} ${bodies[i]!.length}`);
    }
  });

  it('forwards chunked uploads byte for byte', async () => {
    const bodies = Array.from({ length: 8 }, () => randomBytes(100 * 1024));
    const responses = await Promise.all(
      bodies.map(
        (body) =>
          new Promise<string>((resolve, reject) => {
            const socket = net.connect(proxy.port, '127.0.0.1');
            let got = '';
            socket.setEncoding('latin1');
            socket.on('data', (d: string) => {
              got += d;
              if (/\r\n\r\n[0-9a-f]{64} \d+$/.test(got)) {
                socket.destroy();
                resolve(got);
              }
            });
            socket.on('error', reject);
            socket.write('POST /chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
            // Chunks of odd sizes, so chunk boundaries fall anywhere in a read.
            for (let at = 0; at < body.length; ) {
              const n = Math.min(7919, body.length - at);
              socket.write(`${n.toString(16)}\r\n`);
              socket.write(body.subarray(at, at + n));
              socket.write('\r\n');
              at += n;
            }
            socket.write('0\r\n\r\n');
          }),
      ),
    );
    for (let i = 0; i < bodies.length; i++) {
      expect(responses[i]!.startsWith('HTTP/1.1 200')).toBe(true);
      expect(responses[i]!.endsWith(`${sha256(bodies[i]!)} ${bodies[i]!.length}`)).toBe(true);
    }
  });

  it('serves a keep-alive connection whose first bytes a listener filter read, then later ones', async () => {
    const socket = net.connect(inspected.port, '127.0.0.1');
    socket.setEncoding('latin1');
    let got = '';
    const answered = (n: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if ((got.match(/[0-9a-f]{64} \d+/g) ?? []).length >= n) {
            socket.off('data', check);
            resolve();
          }
        };
        socket.on('data', check);
        check();
      });
    socket.on('data', (d: string) => (got += d));
    // The first request arrives in two writes: the inspector reads the start of it.
    socket.write('POST /one HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    socket.write('hello');
    await answered(1);
    socket.write('POST /two HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nworld');
    await answered(2);
    socket.destroy();
    const hashes = got.match(/[0-9a-f]{64} \d+/g);
    expect(hashes).toEqual([`${sha256('hello')} 5`, `${sha256('world')} 5`]);
  });
});
