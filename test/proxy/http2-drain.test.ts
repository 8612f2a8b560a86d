// HTTP/2 connections that end while a stream still waits on its upstream: the client's FIN (alone
// or after its GOAWAY) closes the connection and resets the stream upstream, as a remote close
// does in Envoy; a connection nghttp2 ended on its own (a connection error it answered with
// GOAWAY, after which it reads nothing) no longer holds the proxy's graceful shutdown past its
// drain time. The upstream never answers, so only the proxy can end each case.
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrap,
  H2_CODECS,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';
import { data, ErrorCode, GET, goaway, headers, hpack, RawH2 } from './h2-frames.js';

let upstream: Upstream;
/** Requests the upstream holds, and whether the proxy has since given them up. */
const held: Array<{ res: http.ServerResponse; aborted: boolean }> = [];

beforeAll(async () => {
  upstream = await startUpstream('hang', (_req, res) => {
    const h = { res, aborted: false };
    held.push(h);
    res.on('close', () => {
      h.aborted = !res.writableFinished;
    });
  });
});

afterAll(async () => {
  await upstream?.close();
});

function startProxy(runtime: Record<string, unknown>): Promise<RunningProxy> {
  return startTestProxy(
    bootstrap({
      runtime,
      virtualHosts: [
        // No route timeout: the stream waits on its upstream for as long as it takes.
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'hang', timeout: '0s' } }],
        },
      ],
      clusters: [staticCluster({ name: 'hang', ports: [upstream.port] })],
      hcm: { codec_type: 'HTTP2' },
    }),
  );
}

async function stat(p: RunningProxy, kind: 'counters' | 'gauges', name: string): Promise<number> {
  const snap = await p.server.stats();
  return snap[kind].find((c) => c.name === name)?.value ?? 0;
}

async function until(what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await probe()); i++) {
    if (i > 1000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A connection with stream 1 open and its request held by the upstream. */
async function streamWaitingOnUpstream(p: RunningProxy): Promise<{ c: RawH2; request: (typeof held)[number] }> {
  const c = await RawH2.connect(p.port);
  const before = held.length;
  c.send(headers(1, hpack(GET('/held')), { endStream: true }));
  await until('the upstream to hold the request', () => held.length > before);
  return { c, request: held[held.length - 1]! };
}

describe.each(H2_CODECS)('$codec codec', ({ runtime }) => {
  describe('HTTP/2 connections ending with a stream open', () => {
    for (const [title, end] of [
      ["the client's FIN", (c: RawH2) => c.socket.end()],
      ["the client's GOAWAY, then its FIN", (c: RawH2) => c.socket.end(goaway(0, ErrorCode.NO_ERROR))],
    ] as const) {
      it(`${title} closes the connection and resets the stream upstream`, async () => {
        const p = await startProxy(runtime);
        try {
          const { c, request } = await streamWaitingOnUpstream(p);
          end(c);
          await c.closedByPeer();
          await until('the upstream request to be given up', () => request.aborted);
          await until(
            'no active connection',
            async () => (await stat(p, 'gauges', 'http.ingress_http.downstream_cx_active')) === 0,
          );
          expect(await stat(p, 'counters', 'http.ingress_http.downstream_cx_destroy_remote')).toBe(1);
        } finally {
          await p.close();
        }
      });
    }

    it('a connection nghttp2 ended itself (GOAWAY PROTOCOL_ERROR) does not hold the graceful shutdown', async () => {
      const p = await startProxy(runtime);
      const { c } = await streamWaitingOnUpstream(p);
      c.send(data(0, 'x')); // DATA on stream 0: a connection error nghttp2 answers itself
      expect(await c.goaway()).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR });
      // The drain time (1 s here) bounds the wait: the shutdown completes and the connection is closed.
      await p.close();
      await c.closedByPeer();
      expect(c.closed).toBe(true);
    });
  });
});
