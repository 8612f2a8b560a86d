// `npm run bench:http2-codec`: micro-benchmarks of the HTTP/2 server codec's per-request HPACK
// work, each run for a fixed number of iterations after a warm-up: decoding a request head as
// a client sends its first one (Huffman literals added to the table) and every later one
// (indexed fields from the dynamic table), Huffman decoding alone, encoding a response head
// as the codec writes it, and encoding a gRPC request head as a sidecar forwards it on a warm
// connection (its per-call literals: :path, x-request-id, x-envoy-expected-rq-timeout-ms).
// Prints JSON (ops/s, ns and CPU ns per op).
import { HpackDecoder, HpackEncoder, writeInt } from '../proxy/core/http/codec/http2/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from '../proxy/core/http/codec/http2/huffman.js';
import { ITERATIONS, measure } from './lib/micro.js';

/** A literal with incremental indexing and a Huffman value, with the name from the static table or literal. */
function literal(nameIndex: number, name: string, value: string): Buffer {
  const b = Buffer.alloc(16 + name.length + huffmanLength(value) + 8);
  let pos = writeInt(b, 0, nameIndex, 6, 0x40);
  if (nameIndex === 0) {
    pos = writeInt(b, pos, name.length, 7, 0);
    pos += b.write(name, pos, 'latin1');
  }
  pos = writeInt(b, pos, huffmanLength(value), 7, 0x80);
  pos = huffmanEncode(value, b, pos);
  return b.subarray(0, pos);
}

// A browser-like request: :method GET, :scheme https, :path and :authority, then its headers.
const first = Buffer.concat([
  Buffer.from([0x82, 0x87]),
  literal(4, ':path', '/api/v1/items/42?expand=true'),
  literal(1, ':authority', 'shop.example.com'),
  literal(58, 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36'),
  literal(19, 'accept', 'text/html,application/xhtml+xml'),
  literal(17, 'accept-language', 'en-US,en;q=0.5'),
  Buffer.from([0x90]),
  literal(0, 'x-request-id', '2f1c7f0e-5b9a-4c4e-9d3e-1f2a3b4c5d6e'),
]);
// The same request again: every field but the method and scheme from the dynamic table (62 is newest).
const repeat = Buffer.from([0x82, 0x87, 0x80 | 67, 0x80 | 66, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x90, 0x80 | 62]);
const limits = { maxBytes: 60 * 1024, maxFields: 104 };

const steady = new HpackDecoder();
steady.decode(first, [], limits);
const ua = Buffer.alloc(64);
const uaEnd = huffmanEncode('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', ua, 0);

const names = [':status', 'content-type', 'content-length', 'date', 'server', 'x-envoy-upstream-service-time'];
const values = ['200', 'application/json', '1234', 'Sun, 06 Dec 2026 19:00:00 GMT', 'envoy', '3'];
const encoder = new HpackEncoder();
const out = Buffer.alloc(HpackEncoder.bound(names, values));

// A gRPC call's request head as the outbound sidecar forwards it, on a connection past its first call.
const grpcNames = [
  ':method',
  ':scheme',
  ':authority',
  ':path',
  'content-type',
  'te',
  'user-agent',
  'grpc-accept-encoding',
  'x-forwarded-proto',
  'x-request-id',
  'x-envoy-expected-rq-timeout-ms',
];
const grpcValues = [
  'POST',
  'http',
  '127.0.0.1:50051',
  '/bench.Echo/Echo',
  'application/grpc',
  'trailers',
  'grpc-node-js/1.12.6',
  'identity,deflate,gzip',
  'http',
  '7d3c1a52-5f7e-4d2b-9c41-0e6a8f2b1c90',
  '15000',
];
/** Each call has a request id of its own. */
const requestIds = Array.from({ length: 64 }, (_, i) => `7d3c1a52-5f7e-4d2b-9c41-0e6a8f2b${(0x1c90 + i).toString(16)}`);
const grpcEncoder = new HpackEncoder();
const grpcOut = Buffer.alloc(HpackEncoder.bound(grpcNames, grpcValues));
let call = 0;
const encodeGrpcHead = (): number => {
  grpcValues[9] = requestIds[call++ & 63]!;
  let pos = grpcEncoder.begin(grpcOut, 0);
  for (let i = 0; i < grpcNames.length; i++) pos = grpcEncoder.field(grpcOut, pos, grpcNames[i]!, grpcValues[i]!);
  return pos;
};
const grpcFirstOctets = encodeGrpcHead();
const grpcOctets = encodeGrpcHead();

const results = [
  measure('hpack decode, first request (Huffman literals indexed)', () => {
    new HpackDecoder().decode(first, [], limits);
  }),
  measure('hpack decode, a later request (dynamic table hits)', () => {
    steady.decode(repeat, [], limits);
  }),
  measure('huffman decode, a 52-octet user-agent', () => {
    huffmanDecode(ua, 0, uaEnd);
  }),
  measure('hpack encode, a response head (6 fields)', () => {
    let pos = encoder.begin(out, 0);
    for (let i = 0; i < names.length; i++) pos = encoder.field(out, pos, names[i]!, values[i]!);
  }),
  {
    ...measure('hpack encode, a gRPC request head on a warm connection (11 fields)', () => {
      encodeGrpcHead();
    }),
    octetsFirst: grpcFirstOctets,
    octets: grpcOctets,
  },
];

process.stdout.write(`${JSON.stringify({ benchmark: 'http2-codec', iterations: ITERATIONS, results }, null, 2)}\n`);
