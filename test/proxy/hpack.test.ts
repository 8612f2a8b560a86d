// HPACK (RFC 7541) against the RFC's own examples (Appendix C): integers, literals, requests
// without and with Huffman coding sharing one dynamic table, and responses with eviction.
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackEncoder, HpackStatus, writeInt } from '../../proxy/core/http/codec/http2/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from '../../proxy/core/http/codec/http2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const NO_LIMIT = { maxBytes: 1 << 20, maxFields: 1000 };

function decode(d: HpackDecoder, block: Buffer): Array<[string, string]> {
  const out: string[] = [];
  expect(d.decode(block, out, NO_LIMIT)).toBe(HpackStatus.OK);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  return pairs;
}

describe('C.1 integer representation', () => {
  it.each([
    [10, 5, '0a'],
    [1337, 5, '1f9a0a'],
    [42, 8, '2a'],
  ])('%d with a %d-bit prefix is %s', (value, prefix, encoded) => {
    const b = Buffer.alloc(8);
    const end = writeInt(b, 0, value, prefix, 0);
    expect(b.subarray(0, end).toString('hex')).toBe(encoded);
  });
});

describe('C.2 header field representation', () => {
  it('literal with indexing adds to the table (C.2.1)', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([
      ['custom-key', 'custom-header'],
    ]);
    expect(d.dynamicTableSize).toBe(55);
  });
  it('literal without indexing (C.2.2) and never indexed (C.2.3) leave the table empty', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(d.dynamicTableSize).toBe(0);
  });
  it('indexed field (C.2.4)', () => {
    expect(decode(new HpackDecoder(), hex('82'))).toEqual([[':method', 'GET']]);
  });
});

const requests = (huffman: boolean) =>
  huffman
    ? [
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ]
    : [
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ];

describe.each([
  ['C.3 requests without Huffman coding', false],
  ['C.4 requests with Huffman coding', true],
])('%s', (_title, huffman) => {
  it('decodes three requests on one table', () => {
    const d = new HpackDecoder();
    const [r1, r2, r3] = requests(huffman).map(hex);
    const base: Array<[string, string]> = [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ];
    expect(decode(d, r1!)).toEqual(base);
    expect(d.dynamicTableSize).toBe(57);
    expect(decode(d, r2!)).toEqual([...base, ['cache-control', 'no-cache']]);
    expect(d.dynamicTableSize).toBe(110);
    expect(decode(d, r3!)).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    expect(d.dynamicTableSize).toBe(164);
  });
});

describe('C.6 responses with Huffman coding, a 256-octet table and eviction', () => {
  it('decodes three responses', () => {
    const d = new HpackDecoder(256);
    // The table's maximum is the decoder's limit; the RFC's example runs at 256.
    const r1 = hex(
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    );
    const r2 = hex('4883 640e ffc1 c0bf');
    const r3 = hex(
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    );
    expect(decode(d, r1)).toEqual([
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    expect(d.dynamicTableSize).toBe(222);
    expect(decode(d, r2)).toEqual([
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    expect(d.dynamicTableSize).toBe(222);
    expect(decode(d, r3)).toEqual([
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'],
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ]);
    expect(d.dynamicTableSize).toBe(215);
  });
});

describe('Huffman coding', () => {
  it('encodes as the RFC does and round-trips every octet', () => {
    const b = Buffer.alloc(64);
    expect(b.subarray(0, huffmanEncode('www.example.com', b, 0)).toString('hex')).toBe('f1e3c2e5f23a6ba0ab90f4ff');
    expect(huffmanLength('www.example.com')).toBe(12);
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const big = Buffer.alloc(huffmanLength(all));
    expect(huffmanEncode(all, big, 0)).toBe(big.length);
    expect(huffmanDecode(big, 0, big.length)).toBe(all);
  });
  it('refuses EOS, padding past 7 bits and padding of zeros', () => {
    expect(huffmanDecode(hex('ffffffff'), 0, 4)).toBeNull();
    expect(huffmanDecode(hex('1fff'), 0, 2)).toBeNull();
    expect(huffmanDecode(hex('18'), 0, 1)).toBeNull();
  });
});

describe('decoder errors and limits', () => {
  const bad = (block: string) => new HpackDecoder().decode(hex(block), [], NO_LIMIT);
  it('refuses index 0, an index past the tables, a late or oversized size update, a truncated string', () => {
    expect(bad('80')).toBe(HpackStatus.COMPRESSION_ERROR);
    expect(bad('c6')).toBe(HpackStatus.COMPRESSION_ERROR);
    expect(bad('8220')).toBe(HpackStatus.COMPRESSION_ERROR);
    expect(bad('3fe13f')).toBe(HpackStatus.COMPRESSION_ERROR);
    expect(bad('0003616263')).toBe(HpackStatus.COMPRESSION_ERROR);
  });
  it('keeps the table in step past the limits but stops collecting (an HPACK bomb)', () => {
    const d = new HpackDecoder();
    const entry = Buffer.concat([hex('400178'), writeIntBuf(4000), Buffer.alloc(4000, 0x61)]);
    const bomb = Buffer.concat([entry, Buffer.alloc(1000, 0xbe)]);
    const out: string[] = [];
    expect(d.decode(bomb, out, { maxBytes: 60 * 1024, maxFields: 100 })).toBe(HpackStatus.OVERFLOW);
    expect(out.length).toBeLessThanOrEqual(2 * 100);
    expect(decode(d, hex('be'))).toEqual([['x', 'a'.repeat(4000)]]);
  });
});

function writeIntBuf(n: number): Buffer {
  const b = Buffer.alloc(8);
  return b.subarray(0, writeInt(b, 0, n, 7, 0));
}

describe('encoder', () => {
  it('writes static hits and literals a decoder reads back, with the owed size update first', () => {
    const e = new HpackEncoder();
    e.onPeerTableSize(0);
    const fields: Array<[string, string]> = [
      [':status', '200'],
      [':status', '503'],
      ['content-type', 'text/plain'],
      ['x-envoy-upstream-service-time', '3'],
    ];
    const b = Buffer.alloc(
      HpackEncoder.bound(
        fields.map((f) => f[0]),
        fields.map((f) => f[1]),
      ),
    );
    let pos = e.begin(b, 0);
    expect(b[0]).toBe(0x20);
    for (const [n, v] of fields) pos = e.field(b, pos, n, v);
    expect(b[1]).toBe(0x88);
    expect(decode(new HpackDecoder(), b.subarray(0, pos))).toEqual(fields);
    expect(e.begin(b, 0)).toBe(0);
  });
});

/** Encodes each block with `e`, decodes it with `d` (checking they agree) and returns its octets. */
function roundTrip(e: HpackEncoder, d: HpackDecoder, fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const b = Buffer.alloc(
    HpackEncoder.bound(
      fields.map((f) => f[0]),
      fields.map((f) => f[1]),
    ),
  );
  let pos = e.begin(b, 0);
  for (const [n, v] of fields) pos = e.field(b, pos, n, v);
  const block = b.subarray(0, pos);
  expect(decode(d, block)).toEqual(fields);
  return block;
}

const GRPC_CALL: ReadonlyArray<readonly [string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':authority', 'payment.shop.svc:50051'],
  [':path', '/shop.Payment/Charge'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
  ['user-agent', 'grpc-node-js/1.12.0'],
  ['x-request-id', '7d3c1a52-5f7e-4d2b-9c41-0e6a8f2b1c90'],
];

describe('encoder: incremental indexing (RFC 7541 §6.2.1)', () => {
  it('sends a repeated field as one indexed octet the second time', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const first = roundTrip(e, d, GRPC_CALL);
    // The next call, as a client makes it: a request id of its own.
    const requestId = '0b9e4f21-8a6c-4f3d-b2e7-5c1a9d8e7f60';
    const second = roundTrip(
      e,
      d,
      GRPC_CALL.map(([n, v]) => [n, n === 'x-request-id' ? requestId : v]),
    );
    // content-type, te, user-agent and :authority are each one octet now; :path and
    // x-request-id go out as literals again (their values never stay in the table).
    // Six one-octet fields, :path (1 + 1 + 20 octets, Huffman-coded, §5.2) and x-request-id by
    // the dynamic index of the name its first value entered (2 + 1 + 36, Huffman-coded).
    const h = (s: string) => 1 + huffmanLength(s);
    expect(second.length).toBe(6 + 1 + h('/shop.Payment/Charge') + 2 + h(requestId));
    // The first carried those four as literals, and x-request-id's name.
    expect(first.length).toBeGreaterThan(second.length + 40);
    const ct = roundTrip(e, d, [['content-type', 'application/grpc']]);
    expect(ct.length).toBe(1);
    expect(ct[0]! & 0x80).toBe(0x80);
    expect(e.dynamicTableSize).toBe(d.dynamicTableSize);
    const path = roundTrip(e, d, [[':path', '/shop.Payment/Charge']]);
    expect(path[0]).toBe(0x04); // literal without indexing, static name :path (§6.2.2)
  });

  it('sends credentials and short cookies never indexed, long cookies indexed', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 2; i++) {
      const auth = roundTrip(e, d, [['authorization', 'Bearer abc']]);
      expect(auth[0]! & 0xf0).toBe(0x10); // §6.2.3, static name index 23 past the 4-bit prefix
      const cookie = roundTrip(e, d, [['cookie', 'sid=1']]);
      expect(cookie[0]! & 0xf0).toBe(0x10);
    }
    expect(d.dynamicTableSize).toBe(0);
    const long = 'session=0123456789abcdef0123';
    roundTrip(e, d, [['cookie', long]]);
    expect(roundTrip(e, d, [['cookie', long]]).length).toBe(1);
  });

  it('evicts the oldest entries to stay within a small peer table, in step with the decoder', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder(4096);
    e.onPeerTableSize(60); // room for one entry of 42 octets at a time
    const a: [string, string] = ['x-a', 'value-a'];
    const b: [string, string] = ['x-b', 'value-b'];
    const firstBlock = roundTrip(e, d, [a]);
    expect(firstBlock.subarray(0, 2).toString('hex')).toBe('3f1d'); // the size update to 60 first (§6.3)
    expect(roundTrip(e, d, [a]).length).toBe(1);
    roundTrip(e, d, [b]); // evicts a
    expect(d.dynamicTableSize).toBe(3 + 7 + 32);
    expect(roundTrip(e, d, [b]).length).toBe(1);
    const again = roundTrip(e, d, [a]);
    expect(again.length).toBeGreaterThan(1); // a was evicted: a literal again
    expect(e.dynamicTableSize).toBe(d.dynamicTableSize);
  });

  it('indexes nothing when the peer says SETTINGS_HEADER_TABLE_SIZE 0', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    roundTrip(e, d, GRPC_CALL);
    e.onPeerTableSize(0);
    const block = roundTrip(e, d, GRPC_CALL);
    expect(block[0]).toBe(0x20);
    expect(d.dynamicTableSize).toBe(0);
    const again = roundTrip(e, d, [['content-type', 'application/grpc']]);
    expect(again[0]).toBe(0x0f); // without indexing, static name index 31 (15 + 16)
  });

  it('announces the smallest size first when the bound falls and rises between blocks (§4.2)', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    roundTrip(e, d, [['x-a', 'value-a']]);
    e.onPeerTableSize(0);
    e.onPeerTableSize(4096);
    const block = roundTrip(e, d, [['x-a', 'value-a']]);
    expect(block.subarray(0, 4).toString('hex')).toBe('203fe11f'); // 0, then 4096
    expect(block.length).toBeGreaterThan(4); // the entry went with the size-0 update
  });

  it('keeps its own limit under a larger peer table, and a lowered limit is announced', () => {
    const e = new HpackEncoder(4096);
    const d = new HpackDecoder(65536);
    e.onPeerTableSize(65536);
    const first = roundTrip(e, d, [['x-a', 'value-a']]);
    expect(first[0]).toBe(0x40); // no size update: the bound stays 4096
    e.setLimit(0);
    expect(roundTrip(e, d, [['x-a', 'value-a']])[0]).toBe(0x20);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('keeps a table larger than the default in step: hundreds of entries, the oldest still indexed', () => {
    const e = new HpackEncoder(65536);
    const d = new HpackDecoder(65536);
    e.onPeerTableSize(65536);
    const fields = Array.from({ length: 600 }, (_, i): [string, string] => ['x-k', `v${i}`]);
    for (let i = 0; i < fields.length; i += 50) roundTrip(e, d, fields.slice(i, i + 50));
    // 600 entries of 36-38 octets fit in 65536: the first is index 62 + 599, two octets past the 7-bit prefix.
    expect(roundTrip(e, d, [fields[0]!]).length).toBe(3);
    expect(e.dynamicTableSize).toBe(d.dynamicTableSize);
  });

  it('stays in step with the decoder over many calls with changing values', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 500; i++) {
      roundTrip(e, d, [...GRPC_CALL, ['x-tenant', `tenant-${i % 37}`], ['x-large', 'v'.repeat(i % 200)]]);
    }
    expect(e.dynamicTableSize).toBe(d.dynamicTableSize);
  });
});
