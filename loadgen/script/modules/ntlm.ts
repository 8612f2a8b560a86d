// NTLM authentication for k6/http's `auth: 'ntlm'` (credentials in the URL, `DOMAIN\user` or
// `user`): the Negotiate message goes with the first request, the server answers 401 with its
// Challenge, and the Authenticate message goes with the same request again on the same
// keep-alive connection (the VU keeps one idle connection per origin), as k6's go-ntlmssp does.
// NTLMv2 responses only (MS-NLMP 3.3.2): the NT hash is MD4 of the UTF-16LE password, the proof
// an HMAC-MD5 over the server challenge and a blob carrying a timestamp, a client challenge and
// the server's target info. NTLMv1, signing and sealing are not implemented.
import { createHmac, randomBytes } from 'node:crypto';
import { md4 } from './crypto.js';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
const NEGOTIATE_UNICODE = 0x00000001;
const REQUEST_TARGET = 0x00000004;
const NEGOTIATE_NTLM = 0x00000200;
const NEGOTIATE_ALWAYS_SIGN = 0x00008000;
const NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000;
const NEGOTIATE_TARGET_INFO = 0x00800000;
const NEGOTIATE_128 = 0x20000000;
const NEGOTIATE_56 = 0x80000000;
const FLAGS =
  (NEGOTIATE_UNICODE |
    REQUEST_TARGET |
    NEGOTIATE_NTLM |
    NEGOTIATE_ALWAYS_SIGN |
    NEGOTIATE_EXTENDED_SESSIONSECURITY |
    NEGOTIATE_TARGET_INFO |
    NEGOTIATE_128 |
    NEGOTIATE_56) >>>
  0;
/** Seconds from 1601-01-01 (Windows FILETIME's epoch) to the Unix epoch. */
const EPOCH_DIFF_S = 11_644_473_600n;

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const hmacMd5 = (key: Buffer, ...data: Buffer[]): Buffer => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** The Authorization line opening the handshake (a Negotiate message, no domain or workstation). */
export function ntlmNegotiateLine(): string {
  const m = Buffer.alloc(32);
  SIGNATURE.copy(m, 0);
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(FLAGS, 12);
  // Domain and workstation fields (length, max length, offset) stay empty.
  return `Authorization: NTLM ${m.toString('base64')}\r\n`;
}

/** The server's Challenge from `WWW-Authenticate: NTLM <base64>` in a raw header block; null when absent. */
export function ntlmChallenge(
  rawHeaders: string,
): { serverChallenge: Buffer; targetInfo: Buffer; flags: number } | null {
  const m = /^www-authenticate:[ \t]*NTLM[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/im.exec(rawHeaders);
  if (m === null) return null;
  const b = Buffer.from(m[1]!, 'base64');
  if (b.length < 32 || !b.subarray(0, 8).equals(SIGNATURE) || b.readUInt32LE(8) !== 2) return null;
  const flags = b.readUInt32LE(20);
  const serverChallenge = Buffer.from(b.subarray(24, 32));
  let targetInfo = Buffer.alloc(0);
  if (b.length >= 48) {
    const len = b.readUInt16LE(40);
    const off = b.readUInt32LE(44);
    if (off + len <= b.length) targetInfo = Buffer.from(b.subarray(off, off + len));
  }
  return { serverChallenge, targetInfo, flags };
}

/** `DOMAIN\user` (or `user@DOMAIN`) split; a bare user has an empty domain. */
export function ntlmUser(user: string): { domain: string; user: string } {
  const slash = user.indexOf('\\');
  if (slash !== -1) return { domain: user.slice(0, slash), user: user.slice(slash + 1) };
  return { domain: '', user };
}

/** The NTLMv2 response to `serverChallenge` (exported for tests: MS-NLMP's worked example). */
export function ntlmV2Response(
  c: { user: string; domain: string; pass: string },
  serverChallenge: Buffer,
  targetInfo: Buffer,
  clientChallenge: Buffer,
  timestamp: Buffer,
): { nt: Buffer; lm: Buffer } {
  const ntHash = md4(utf16(c.pass));
  const v2Hash = hmacMd5(ntHash, utf16(c.user.toUpperCase() + c.domain));
  const blob = Buffer.concat([
    Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]),
    timestamp,
    clientChallenge,
    Buffer.alloc(4),
    targetInfo,
    Buffer.alloc(4),
  ]);
  const proof = hmacMd5(v2Hash, serverChallenge, blob);
  const lm = Buffer.concat([hmacMd5(v2Hash, serverChallenge, clientChallenge), clientChallenge]);
  return { nt: Buffer.concat([proof, blob]), lm };
}

/** The Authorization line answering a Challenge with an NTLMv2 Authenticate message. */
export function ntlmAuthenticateLine(
  challenge: { serverChallenge: Buffer; targetInfo: Buffer; flags: number },
  credentials: { user: string; pass: string },
): string {
  const { domain, user } = ntlmUser(credentials.user);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64LE((BigInt(Date.now()) / 1000n + EPOCH_DIFF_S) * 10_000_000n);
  const { nt, lm } = ntlmV2Response(
    { user, domain, pass: credentials.pass },
    challenge.serverChallenge,
    challenge.targetInfo,
    randomBytes(8),
    timestamp,
  );
  const fields = [lm, nt, utf16(domain), utf16(user), utf16(''), Buffer.alloc(0)];
  const header = Buffer.alloc(64);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(3, 8);
  let offset = header.length;
  fields.forEach((f, i) => {
    const at = 12 + i * 8;
    header.writeUInt16LE(f.length, at);
    header.writeUInt16LE(f.length, at + 2);
    header.writeUInt32LE(offset, at + 4);
    offset += f.length;
  });
  header.writeUInt32LE((challenge.flags & FLAGS) >>> 0 || FLAGS, 60);
  return `Authorization: NTLM ${Buffer.concat([header, ...fields]).toString('base64')}\r\n`;
}
