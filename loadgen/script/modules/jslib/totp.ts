// jslib.k6.io/totp, served built in: RFC 6238 time-based one-time passwords from a base32
// secret (what authenticator apps hold). new TOTP(secret, digits = 6); gen(timeStep = 30) and
// verify(code, timeStep = 30) resolve with the current code and whether a code is it, as the
// jslib's WebCrypto-based versions do (HMAC-SHA1).
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(secret: string): Buffer {
  const clean = secret.toUpperCase().replace(/[\s=-]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v === -1) throw new Error(`TOTP: the secret is not base32 ('${ch}')`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The HOTP value (RFC 4226) of `counter`, `digits` long. */
export function hotp(key: Buffer, counter: number, digits: number): string {
  const msg = Buffer.alloc(8);
  msg.writeUInt32BE(Math.floor(counter / 0x100000000), 0);
  msg.writeUInt32BE(counter >>> 0, 4);
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1]! & 0x0f;
  const bin = mac.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

export function createTotpModule(): Record<string, unknown> {
  class TOTP {
    readonly #key: Buffer;
    readonly #digits: number;
    constructor(secret: string, digits = 6) {
      if (typeof secret !== 'string' || secret === '') throw new TypeError('TOTP: the secret must be a base32 string');
      if (!Number.isInteger(digits) || digits < 1 || digits > 10)
        throw new RangeError(`TOTP: digits must be from 1 to 10, got ${digits}`);
      this.#key = base32Decode(secret);
      this.#digits = digits;
    }
    async gen(timeStep = 30): Promise<string> {
      return hotp(this.#key, Math.floor(Date.now() / 1000 / timeStep), this.#digits);
    }
    async verify(code: string, timeStep = 30): Promise<boolean> {
      return String(code) === (await this.gen(timeStep));
    }
  }
  const mod: Record<string, unknown> = { TOTP };
  mod.default = mod;
  return mod;
}
