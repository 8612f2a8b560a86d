// NTLM for k6/http's `auth: 'ntlm'`: the NTLMv2 response against MS-NLMP's worked example
// (4.2.4), and a run against a server that challenges a Negotiate, checks the Authenticate's
// NTLMv2 proof with the password it knows, and insists on both messages on one connection.
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md4 } from '../../../loadgen/script/modules/crypto.js';
import { ntlmV2Response } from '../../../loadgen/script/modules/ntlm.js';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

const tmp = scriptDir();

// MS-NLMP 4.2.4: AV pairs MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", MsvAvEOL.
const AV_PAIRS = Buffer.from('02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000', 'hex');
const SERVER_CHALLENGE = Buffer.from('0123456789abcdef', 'hex');

/** What the server saw: per connection, the messages' types in order, and the verdicts. */
const seen: { socket: Socket; type: number; ok?: boolean }[] = [];

function challenge(): string {
  const m = Buffer.alloc(48 + AV_PAIRS.length);
  m.write('NTLMSSP\0', 0, 'latin1');
  m.writeUInt32LE(2, 8);
  m.writeUInt32LE(0x62898215, 20);
  SERVER_CHALLENGE.copy(m, 24);
  m.writeUInt16LE(AV_PAIRS.length, 40);
  m.writeUInt16LE(AV_PAIRS.length, 42);
  m.writeUInt32LE(48, 44);
  AV_PAIRS.copy(m, 48);
  return m.toString('base64');
}

/** Checks an Authenticate message's NTLMv2 proof for `user`/`domain` with password 's3cret'. */
function verify(m: Buffer): { ok: boolean; user: string; domain: string } {
  const field = (i: number): Buffer => {
    const at = 12 + i * 8;
    const len = m.readUInt16LE(at);
    const off = m.readUInt32LE(at + 4);
    return m.subarray(off, off + len);
  };
  const nt = field(1);
  const domain = field(2).toString('utf16le');
  const user = field(3).toString('utf16le');
  const v2Hash = createHmac('md5', md4(Buffer.from('s3cret', 'utf16le')))
    .update(Buffer.from(user.toUpperCase() + domain, 'utf16le'))
    .digest();
  const blob = nt.subarray(16);
  const proof = createHmac('md5', v2Hash).update(SERVER_CHALLENGE).update(blob).digest();
  return { ok: proof.equals(nt.subarray(0, 16)) && blob.includes(AV_PAIRS), user, domain };
}

let base = '';
const server = http.createServer((req, res) => {
  const auth = /^NTLM (.+)$/.exec(req.headers.authorization ?? '');
  const msg = auth === null ? Buffer.alloc(0) : Buffer.from(auth[1]!, 'base64');
  const type = msg.length >= 12 ? msg.readUInt32LE(8) : 0;
  if (type === 1) {
    seen.push({ socket: req.socket, type });
    res.writeHead(401, { 'www-authenticate': `NTLM ${challenge()}` });
    return res.end();
  }
  if (type === 3) {
    const negotiated = seen.some((s) => s.socket === req.socket && s.type === 1);
    const v = verify(msg);
    const ok = negotiated && v.ok;
    seen.push({ socket: req.socket, type, ok });
    res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
    return res.end(ok ? `hello ${v.domain}\\${v.user}` : 'denied');
  }
  res.writeHead(401, { 'www-authenticate': 'NTLM' });
  res.end();
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("k6/http auth: 'ntlm'", () => {
  it("computes MS-NLMP's NTLMv2 example response", () => {
    const r = ntlmV2Response(
      { user: 'User', domain: 'Domain', pass: 'Password' },
      SERVER_CHALLENGE,
      AV_PAIRS,
      Buffer.from('aaaaaaaaaaaaaaaa', 'hex'),
      Buffer.alloc(8),
    );
    expect(r.nt.subarray(0, 16).toString('hex')).toBe('68cd0ab851e51c96aabc927bebef6a1c');
    expect(r.lm.toString('hex')).toBe('86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
  });

  it('negotiates, answers the challenge on the same connection, and fails with a wrong password', async () => {
    const r = await run({
      script: tmp.write(
        'ntlm.js',
        `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const good = http.get('http://CORP%5Calice:s3cret@${base}/', { auth: 'ntlm' });
  const bare = http.get('http://bob:s3cret@${base}/', { auth: 'ntlm' });
  const bad = http.get('http://CORP%5Calice:wrong@${base}/', { auth: 'ntlm' });
  check(null, {
    'authenticated as CORP\\\\alice': () => good.status === 200 && good.body === 'hello CORP\\\\alice',
    'a user without a domain': () => bare.status === 200 && bare.body === 'hello \\\\bob',
    'wrong password is a 401': () => bad.status === 401,
  });
}
`,
      ),
    });
    expect(r.exitCode).toBe(0);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r))).toHaveLength(3);
    // Three handshakes, each Negotiate and Authenticate on one connection.
    expect(seen.map((s) => s.type)).toEqual([1, 3, 1, 3, 1, 3]);
    expect(seen.map((s) => s.ok).filter((ok) => ok !== undefined)).toEqual([true, true, false]);
  });
});
