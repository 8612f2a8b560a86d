// Envoy's http2_protocol_options.max_outbound_control_frames (default 1000): SETTINGS/PING ACKs
// and RST_STREAMs a client may have queued and not yet drained before its connection closes as a
// flood (http2.outbound_control_flood). Our codec keeps the configured value; node:http2's codec
// accepts the field and keeps nghttp2's own 1000, as README says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrap,
  configProblems,
  startTestProxy,
  startUpstream,
  staticCluster,
  type RunningProxy,
  type Upstream,
} from './helpers.js';
import { ErrorCode, Flag, FrameType, ping, RawH2 } from './h2-frames.js';

/** PINGs written at once: one read for the proxy, so their ACKs are queued in one turn. */
const PINGS = 200;
/** What a flooding client writes after its burst. */
const FLOOD_BYTES = 4 * 1024 * 1024;
const CODEC = (own: boolean) => ({ 'envoy.reloadable_features.http2_use_oghttp2': own });

let echo: Upstream;
const proxies: RunningProxy[] = [];

beforeAll(async () => {
  echo = await startUpstream('echo');
});

afterAll(async () => {
  for (const p of proxies) await p.close();
  await echo?.close();
});

function config(own: boolean, limit?: number): unknown {
  return bootstrap({
    runtime: CODEC(own),
    virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] }],
    clusters: [staticCluster({ name: 'echo', ports: [echo.port] })],
    hcm: {
      codec_type: 'HTTP2',
      ...(limit === undefined ? {} : { http2_protocol_options: { max_outbound_control_frames: limit } }),
    },
  });
}

async function start(own: boolean, limit?: number): Promise<RunningProxy> {
  const p = await startTestProxy(config(own, limit));
  proxies.push(p);
  return p;
}

async function controlFloods(p: RunningProxy): Promise<number> {
  const snap = await p.server.stats();
  return snap.counters.find((c) => c.name === 'http2.outbound_control_flood')?.value ?? 0;
}

/** The proxy's downstream_cx_rx_bytes_total: bytes it read from its clients. */
async function bytesRead(p: RunningProxy): Promise<number> {
  const snap = await p.server.stats();
  return snap.counters.find((c) => c.name.endsWith('.downstream_cx_rx_bytes_total'))?.value ?? 0;
}

/** Sends PINGS PINGs in one write; resolves with the ACKs received, or the GOAWAY code if the proxy closed. */
async function pingBurst(p: RunningProxy): Promise<{ acks: number; goaway: number | null }> {
  const c = await RawH2.connect(p.port);
  try {
    c.send(...Array.from({ length: PINGS }, (_, i) => ping(Buffer.alloc(8, i))));
    const isAck = (f: { type: number; flags: number }) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0;
    await c.waitFor(() => c.frames.filter(isAck).length >= PINGS);
    const acks = c.frames.filter(isAck).length;
    const g = c.frames.find((f) => f.type === FrameType.GOAWAY);
    return { acks, goaway: g === undefined ? null : g.payload.readUInt32BE(4) };
  } finally {
    c.destroy();
  }
}

describe('max_outbound_control_frames', () => {
  it('is validated at the edge: 0 is refused with its path, 1 and 2^32-1 are accepted', () => {
    expect(configProblems(config(true, 1))).toEqual([]);
    expect(configProblems(config(true, 4294967295))).toEqual([]);
    expect(configProblems(config(true, 0)).join('\n')).toMatch(/http2_protocol_options\.max_outbound_control_frames/);
  });

  it('our codec: at the default (1000), a burst of 200 PINGs is answered in full', async () => {
    const p = await start(true);
    const before = await controlFloods(p);
    expect(await pingBurst(p)).toEqual({ acks: PINGS, goaway: null });
    expect((await controlFloods(p)) - before).toBe(0);
  });

  it('our codec: with the limit at 10, the same burst closes the connection with ENHANCE_YOUR_CALM', async () => {
    const p = await start(true, 10);
    const before = await controlFloods(p);
    const r = await pingBurst(p);
    expect(r.goaway).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(r.acks).toBeLessThan(PINGS);
    expect((await controlFloods(p)) - before).toBe(1);
  });

  it('our codec: a client cut off for a flood is read no further, and its connection closes', async () => {
    // A flooding client writes on after its GOAWAY. Read through the close's grace, all it sent
    // became ArrayBuffers awaiting a full GC (tens of MB of RSS under bench:http2-attacks' PING flood).
    const p = await start(true, 10);
    const before = await controlFloods(p);
    const c = await RawH2.connect(p.port);
    try {
      const burst = Buffer.concat(Array.from({ length: PINGS }, (_, i) => ping(Buffer.alloc(8, i))));
      const more = Buffer.concat(Array.from({ length: Math.ceil(FLOOD_BYTES / burst.length) }, () => burst));
      c.send(burst);
      c.send(more);
      expect((await c.goaway())?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
      await c.closedByPeer();
      expect((await controlFloods(p)) - before).toBe(1);
      // The preface, the burst and at most the read that found the flood; not the 4 MiB after it.
      expect(await bytesRead(p)).toBeLessThan(FLOOD_BYTES / 4);
    } finally {
      c.destroy();
    }
  });

  it('node:http2 codec: the field is accepted and ignored (nghttp2 keeps its own 1000)', async () => {
    const p = await start(false, 10);
    expect(await pingBurst(p)).toEqual({ acks: PINGS, goaway: null });
  });
});
