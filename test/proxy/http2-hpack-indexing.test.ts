// HPACK incremental indexing on the wire (RFC 7541 §6.2.1, §4.2): our own codecs send a field
// that repeats on a connection as a table index after its first time, both ways, within the
// table size the peer's SETTINGS_HEADER_TABLE_SIZE allows (0: no indexing at all). A raw HTTP/2
// client reads the proxy's response blocks; raw HTTP/2 upstreams record its request blocks. Each
// block is decoded by a decoder kept in step with the connection (it fails on an index the proxy
// did not define) and searched for the literal octets of the repeated value (as is or Huffman-coded).
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HpackDecoder, HpackStatus } from '../../proxy/core/http/codec/http2/hpack.js';
import { huffmanEncode } from '../../proxy/core/http/codec/http2/huffman.js';
import {
  type Frame,
  Flag,
  FrameType,
  GET,
  headers,
  hpack,
  RawH2,
  Setting,
  settings,
  settingsAck,
} from './h2-frames.js';
import {
  bootstrap,
  H2_CODECS,
  httpProtocolOptions,
  type RunningProxy,
  startTestProxy,
  startUpstream,
  staticCluster,
  type Upstream,
} from './helpers.js';

const OURS = H2_CODECS.find((c) => c.codec === 'oghttp2')!;
const LIMITS = { maxBytes: 1 << 20, maxFields: 1000 };
/** A value long enough that finding its octets in a block cannot be chance. */
const SHOP = 'checkout-service-v2.shop.svc.cluster.local';
const TENANT = 'tenant-acme-corporation-eu-west-1';

function decode(d: HpackDecoder, block: Buffer): Record<string, string> {
  const out: string[] = [];
  expect(d.decode(block, out, LIMITS)).toBe(HpackStatus.OK);
  const fields: Record<string, string> = {};
  for (let i = 0; i < out.length; i += 2) fields[out[i]!] = out[i + 1]!;
  return fields;
}

/** The value's literal octets are in the block, as is or Huffman-coded (§5.2). */
const literal = (block: Buffer, value: string) => {
  const coded = Buffer.alloc(value.length);
  return (
    block.includes(Buffer.from(value, 'latin1')) || block.includes(coded.subarray(0, huffmanEncode(value, coded, 0)))
  );
};

/** A raw HTTP/2 upstream: sends `serverSettings`, records each request's header block, answers 200. */
class RecordingUpstream {
  readonly server: net.Server;
  /** Header blocks per accepted connection, in arrival order. */
  readonly blocks: Buffer[][] = [];

  constructor(serverSettings: ReadonlyArray<readonly [number, number]>) {
    this.server = net.createServer((socket) => {
      const mine: Buffer[] = [];
      this.blocks.push(mine);
      socket.on('error', () => {});
      socket.write(settings(serverSettings));
      let buf = Buffer.alloc(0);
      let preface = 24;
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const skip = Math.min(preface, buf.length);
        preface -= skip;
        buf = buf.subarray(skip);
        while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
          const len = buf.readUIntBE(0, 3);
          const f: Frame = {
            type: buf[3]!,
            flags: buf[4]!,
            streamId: buf.readUInt32BE(5) & 0x7fffffff,
            payload: Buffer.from(buf.subarray(9, 9 + len)),
          };
          buf = buf.subarray(9 + len);
          if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) socket.write(settingsAck());
          if (f.type !== FrameType.HEADERS) continue;
          // The proxy writes one HEADERS frame per block here (no CONTINUATION, no padding or priority).
          expect(f.flags & Flag.END_HEADERS).toBe(Flag.END_HEADERS);
          mine.push(f.payload);
          socket.write(headers(f.streamId, hpack([[':status', '200']]), { endStream: true }));
        }
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  close(): void {
    this.server.close();
  }
}

let h1: Upstream;
let h2Default: RecordingUpstream;
let h2NoTable: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  h1 = await startUpstream('h1', (_req, res) => {
    res.setHeader('content-type', 'application/grpc');
    res.setHeader('x-shop', SHOP);
    res.setHeader('x-other', `${'o'.repeat(40)}`);
    res.end('ok');
  });
  h2Default = new RecordingUpstream([]);
  h2NoTable = new RecordingUpstream([[Setting.HEADER_TABLE_SIZE, 0]]);
  const h2 = httpProtocolOptions({ explicit_http_config: { http2_protocol_options: {} } });
  proxy = await startTestProxy(
    bootstrap({
      runtime: OURS.runtime,
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/h2-default' }, route: { cluster: 'h2_default' } },
            { match: { prefix: '/h2-no-table' }, route: { cluster: 'h2_no_table' } },
            { match: { prefix: '/' }, route: { cluster: 'h1' } },
          ],
        },
      ],
      clusters: [
        staticCluster({ name: 'h1', ports: [h1.port] }),
        staticCluster({ name: 'h2_default', ports: [await h2Default.listen()], extra: h2 }),
        staticCluster({ name: 'h2_no_table', ports: [await h2NoTable.listen()], extra: h2 }),
      ],
      hcm: { codec_type: 'HTTP2' },
    }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await h1?.close();
  h2Default?.close();
  h2NoTable?.close();
});

/** Sends GETs to `path` one after another on one connection; returns each response's header block. */
async function responseBlocks(
  count: number,
  path: string,
  clientSettings: ReadonlyArray<readonly [number, number]> = [],
  extra: Array<[string, string]> = [],
): Promise<Buffer[]> {
  const c = await RawH2.connect(proxy.port, { settings: clientSettings });
  const blocks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = 1 + 2 * i;
    c.send(headers(id, hpack([...GET(path), ...extra]), { endStream: true }));
    const f = await c.waitFor((x) => x.type === FrameType.HEADERS && x.streamId === id);
    expect(f).not.toBeNull();
    expect(f!.flags & Flag.END_HEADERS).toBe(Flag.END_HEADERS);
    blocks.push(f!.payload);
    await c.waitFor((x) => x.streamId === id && (x.flags & Flag.END_STREAM) !== 0);
  }
  c.destroy();
  return blocks;
}

describe('HPACK indexing, our codecs', () => {
  it('a response field repeated on the connection goes out as an index the second time', async () => {
    const [first, second] = await responseBlocks(2, '/');
    const d = new HpackDecoder();
    expect(decode(d, first!)).toMatchObject({ ':status': '200', 'content-type': 'application/grpc', 'x-shop': SHOP });
    expect(decode(d, second!)).toMatchObject({ ':status': '200', 'content-type': 'application/grpc', 'x-shop': SHOP });
    expect(literal(first!, SHOP)).toBe(true);
    expect(literal(second!, SHOP)).toBe(false);
    expect(literal(second!, 'application/grpc')).toBe(false);
    expect(second!.length).toBeLessThan(first!.length / 2);
  });

  it('a client whose SETTINGS_HEADER_TABLE_SIZE is 0 gets literals every time', async () => {
    const [first, second] = await responseBlocks(2, '/', [[Setting.HEADER_TABLE_SIZE, 0]]);
    // A decoder allowed no table refuses any insertion the proxy might attempt past the update.
    const d = new HpackDecoder(0);
    expect(first![0]).toBe(0x20); // the size update to 0 before the first field (§6.3)
    expect(decode(d, first!)).toMatchObject({ 'x-shop': SHOP });
    expect(decode(d, second!)).toMatchObject({ 'x-shop': SHOP });
    expect(literal(second!, SHOP)).toBe(true);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('a small client table: entries evicted in step, the evicted value sent literally again', async () => {
    // 130 octets hold one of x-shop (6 + 43 + 32 = 81) and x-other (7 + 40 + 32 = 79), not both.
    const blocks = await responseBlocks(3, '/', [[Setting.HEADER_TABLE_SIZE, 130]]);
    const d = new HpackDecoder(130);
    for (const b of blocks) expect(decode(d, b)).toMatchObject({ 'x-shop': SHOP, 'x-other': 'o'.repeat(40) });
    expect(literal(blocks[2]!, SHOP)).toBe(true);
    expect(d.dynamicTableSize).toBeLessThanOrEqual(130);
  });

  it('a request field repeated to an HTTP/2 upstream goes out as an index the second time', async () => {
    await responseBlocks(2, '/h2-default', [], [['x-tenant', TENANT]]);
    const conn = h2Default.blocks.find((b) => b.length >= 2)!;
    expect(conn).toBeDefined();
    const d = new HpackDecoder();
    expect(decode(d, conn[0]!)).toMatchObject({ ':path': '/h2-default', 'x-tenant': TENANT });
    expect(decode(d, conn[1]!)).toMatchObject({ ':path': '/h2-default', 'x-tenant': TENANT });
    expect(literal(conn[0]!, TENANT)).toBe(true);
    expect(literal(conn[1]!, TENANT)).toBe(false);
    // :path is never entered into the table: its value is a literal every time.
    expect(literal(conn[1]!, '/h2-default')).toBe(true);
  });

  it('a per-request id goes out with its value literal every time and its name by index after the first', async () => {
    await responseBlocks(2, '/h2-default/ids');
    // The proxy keeps one connection to the upstream: its blocks decode in order with one table.
    const conn = h2Default.blocks.filter((b) => b.length >= 2).at(-1)!;
    const d = new HpackDecoder();
    const ids = conn.map((b) => decode(d, b)['x-request-id']!);
    const [firstId, secondId] = ids.slice(-2);
    expect(firstId).toMatch(/^[0-9a-f-]{36}$/);
    expect(secondId).not.toBe(firstId);
    // The value is a literal each time (never a table hit) ...
    expect(literal(conn.at(-1)!, secondId!)).toBe(true);
    // ... and the name is spelled out (as is or Huffman-coded) on the connection's first request only.
    const nameSpelled = (block: Buffer) => literal(block, 'x-request-id');
    expect(nameSpelled(conn[0]!)).toBe(true);
    expect(conn.slice(1).some(nameSpelled)).toBe(false);
  });

  it('an upstream whose SETTINGS_HEADER_TABLE_SIZE is 0 gets literals every time', async () => {
    await responseBlocks(2, '/h2-no-table', [], [['x-tenant', TENANT]]);
    const blocks = h2NoTable.blocks.flat();
    expect(blocks.length).toBe(2);
    const d = new HpackDecoder(0);
    for (const b of blocks) {
      expect(decode(d, b)).toMatchObject({ 'x-tenant': TENANT });
      expect(literal(b, TENANT)).toBe(true);
    }
    expect(d.dynamicTableSize).toBe(0);
  });
});
