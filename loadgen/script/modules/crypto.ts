// k6/crypto: hashes, HMAC, incremental hashers and random bytes over node:crypto. MD4 is written
// out here (RFC 1320): OpenSSL 3 moved it to the legacy provider, which Node does not load.
import { types } from 'node:util';
import * as nodeCrypto from 'node:crypto';

const ALGORITHMS: Readonly<Record<string, string>> = {
  md4: 'md4',
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha512_224: 'sha512-224',
  sha512_256: 'sha512-256',
  ripemd160: 'ripemd160',
};

type Input = string | ArrayBuffer | ArrayBufferView;

function bytes(input: Input): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (types.isAnyArrayBuffer(input)) return Buffer.from(input);
  if (ArrayBuffer.isView(input)) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('k6/crypto: input must be a string or an ArrayBuffer');
}

/** k6's output encodings: Go's StdEncoding, URLEncoding (padded), RawURLEncoding, hex, or an ArrayBuffer. */
function encode(digest: Buffer, encoding: string | undefined): string | ArrayBuffer {
  switch (encoding ?? 'binary') {
    case 'hex':
      return digest.toString('hex');
    case 'base64':
      return digest.toString('base64');
    case 'base64url': {
      const s = digest.toString('base64url');
      return s + '='.repeat((4 - (s.length % 4)) % 4);
    }
    case 'base64rawurl':
      return digest.toString('base64url');
    case 'binary':
      return digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.length) as ArrayBuffer;
    default:
      throw new Error(
        `k6/crypto: unsupported output encoding '${encoding}' (hex, base64, base64url, base64rawurl, binary)`,
      );
  }
}

function algorithm(name: string): string {
  const a = ALGORITHMS[name];
  if (a === undefined)
    throw new Error(`k6/crypto: unsupported hash algorithm '${name}' (${Object.keys(ALGORITHMS).join(', ')})`);
  return a;
}

/** What Node's Hash and Hmac have in common, and what the MD4 fallback provides. */
interface Digester {
  update(data: Buffer): unknown;
  digest(): Buffer;
}

class Md4 implements Digester {
  readonly #chunks: Buffer[] = [];
  update(data: Buffer): this {
    this.#chunks.push(data);
    return this;
  }
  digest(): Buffer {
    return md4(Buffer.concat(this.#chunks));
  }
}

/** MD4 (RFC 1320) of a whole message. */
export function md4(msg: Buffer): Buffer {
  const bitLen = msg.length * 8;
  const padded = Buffer.alloc((((msg.length + 8) >> 6) + 1) << 6);
  msg.copy(padded);
  padded[msg.length] = 0x80;
  padded.writeUInt32LE(bitLen >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLen / 2 ** 32), padded.length - 4);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));
  const x = new Array<number>(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(off + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    const f = (p: number, q: number, r: number): number => (p & q) | (~p & r);
    const g = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
    const h = (p: number, q: number, r: number): number => p ^ q ^ r;
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + x[k]!) | 0, 3);
      d = rotl((d + f(a, b, c) + x[k + 1]!) | 0, 7);
      c = rotl((c + f(d, a, b) + x[k + 2]!) | 0, 11);
      b = rotl((b + f(c, d, a) + x[k + 3]!) | 0, 19);
    }
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + x[k]! + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + x[k + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + x[k + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + x[k + 12]! + 0x5a827999) | 0, 13);
    }
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[k]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + x[k + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + x[k + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + x[k + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  [a, b, c, d].forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}

function digester(name: string, secret?: Input): Digester {
  const alg = algorithm(name);
  if (secret === undefined) return alg === 'md4' ? new Md4() : nodeCrypto.createHash(alg);
  if (alg === 'md4') throw new Error('k6/crypto: HMAC with md4 is not supported');
  return nodeCrypto.createHmac(alg, bytes(secret));
}

/**
 * k6's Hasher: update() and digest() in any order and number. k6's digest() is Go's Sum, which
 * does not reset the hash: a second digest() gives the same value in another encoding, and an
 * update() after it extends the same message. Node's digest() ends its hash, so each digest()
 * hashes the message so far in a fresh one.
 */
class Hasher {
  readonly #make: () => Digester;
  readonly #chunks: Buffer[] = [];
  constructor(make: () => Digester) {
    this.#make = make;
    make(); // an unknown algorithm fails at createHash(), not at the first digest()
  }
  update(input: Input): void {
    this.#chunks.push(bytes(input));
  }
  digest(encoding?: string): string | ArrayBuffer {
    const d = this.#make();
    for (const c of this.#chunks) d.update(c);
    return encode(d.digest(), encoding);
  }
}

export function createCryptoModule(): Record<string, unknown> {
  const hash = (name: string) => (input: Input, encoding?: string) => encode(oneShot(name, input), encoding);
  const oneShot = (name: string, input: Input): Buffer => {
    const d = digester(name);
    d.update(bytes(input));
    return d.digest();
  };
  const mod: Record<string, unknown> = {
    createHash: (name: string) => new Hasher(() => digester(name)),
    createHMAC: (name: string, secret: Input) => new Hasher(() => digester(name, secret)),
    hmac: (name: string, secret: Input, input: Input, encoding?: string) => {
      const d = digester(name, secret);
      d.update(bytes(input));
      return encode(d.digest(), encoding);
    },
    randomBytes: (size: number) => {
      if (!Number.isInteger(size) || size < 0) throw new Error(`k6/crypto: randomBytes needs a size >= 0, got ${size}`);
      const b = nodeCrypto.randomBytes(size);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
    },
  };
  for (const name of Object.keys(ALGORITHMS)) mod[name] = hash(name);
  mod.default = mod;
  return mod;
}
