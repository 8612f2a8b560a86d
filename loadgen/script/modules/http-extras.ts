// Parts of k6/http beyond the request loop: request bodies (forms with repeated keys, multipart
// with http.file()), authentication (basic from the URL's credentials, digest after a 401
// challenge), and the script-facing CookieJar (k6's `new http.CookieJar()` and http.cookieJar()).
import { createHash, randomBytes } from 'node:crypto';
import { types } from 'node:util';
import { CookieJar as CookieStore } from '../../http/cookies.js';

/** What http.file() returns; a body object holding one is sent as multipart/form-data. */
export class FileData {
  readonly data: string | ArrayBuffer | ArrayBufferView;
  readonly filename: string;
  readonly content_type: string;
  constructor(data: string | ArrayBuffer | ArrayBufferView, filename?: string, contentType?: string) {
    if (typeof data !== 'string' && !types.isAnyArrayBuffer(data) && !ArrayBuffer.isView(data))
      throw new TypeError('http.file: data must be a string, an ArrayBuffer or a typed array');
    this.data = data;
    this.filename = filename ?? `file-${Date.now()}`;
    this.content_type = contentType ?? 'application/octet-stream';
  }
}

function bytes(v: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(v);
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase() === name);
}

/**
 * A plain-object body: urlencoded, an array value repeating its key (as k6 does), or multipart
 * when any value is an http.file(). Sets Content-Type unless the script set one.
 */
export function formBody(
  body: Record<string, unknown>,
  headers: Record<string, string>,
): { buf: Buffer; text: string } {
  const entries: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(body)) {
    if (Array.isArray(v)) for (const x of v) entries.push([k, x]);
    else entries.push([k, v]);
  }
  if (entries.some(([, v]) => v instanceof FileData)) {
    const boundary = randomBytes(16).toString('hex');
    const parts: Buffer[] = [];
    for (const [k, v] of entries) {
      const name = k.replace(/"/g, '%22');
      if (v instanceof FileData) {
        const fn = v.filename.replace(/"/g, '%22');
        parts.push(
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${fn}"\r\nContent-Type: ${v.content_type}\r\n\r\n`,
          ),
          bytes(v.data),
          Buffer.from('\r\n'),
        );
      } else
        parts.push(
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${String(v)}\r\n`),
        );
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
    const buf = Buffer.concat(parts);
    return { buf, text: buf.toString('latin1') };
  }
  const form = new URLSearchParams();
  for (const [k, v] of entries) form.append(k, String(v));
  if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
  const text = form.toString();
  return { buf: Buffer.from(text, 'utf8'), text };
}

/** The credentials in a URL's authority (http://user:pass@host/), decoded; null when none. */
export function urlCredentials(url: string): { user: string; pass: string } | null {
  const scheme = url.indexOf('://');
  const at = url.indexOf('@', scheme + 3);
  if (scheme === -1 || at === -1) return null;
  const slash = url.indexOf('/', scheme + 3);
  if (slash !== -1 && slash < at) return null;
  const u = new URL(url);
  if (u.username === '' && u.password === '') return null;
  return { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
}

export function basicAuthLine(c: { user: string; pass: string }): string {
  return `Authorization: Basic ${Buffer.from(`${c.user}:${c.pass}`).toString('base64')}\r\n`;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** Parses `Digest realm="x", nonce="y", qop="auth"` into its parameters. */
function challengeParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)=(?:"([^"]*)"|([^,\s]*))/g;
  for (let m = re.exec(header); m !== null; m = re.exec(header)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

/**
 * The Authorization line answering a Digest challenge (RFC 7616 with MD5, qop=auth when offered);
 * undefined when the challenge is not a Digest one.
 */
export function digestAuthLine(
  challenge: string | undefined,
  method: string,
  uri: string,
  c: { user: string; pass: string },
): string | undefined {
  if (challenge === undefined || !/^\s*digest\s/i.test(challenge)) return undefined;
  const p = challengeParams(challenge.replace(/^\s*digest\s+/i, ''));
  const realm = p.realm ?? '';
  const nonce = p.nonce ?? '';
  const qop = (p.qop ?? '')
    .split(',')
    .map((q) => q.trim())
    .includes('auth')
    ? 'auth'
    : '';
  const ha1 = md5(`${c.user}:${realm}:${c.pass}`);
  const ha2 = md5(`${method}:${uri}`);
  const nc = '00000001';
  const cnonce = randomBytes(8).toString('hex');
  const response = qop === '' ? md5(`${ha1}:${nonce}:${ha2}`) : md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`);
  let line = `Digest username="${c.user}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=MD5, response="${response}"`;
  if (qop !== '') line += `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"`;
  if (p.opaque !== undefined) line += `, opaque="${p.opaque}"`;
  return `Authorization: ${line}\r\n`;
}

export const STORE = Symbol('cookie store');

export interface CookieOptions {
  domain?: string;
  path?: string;
  expires?: string;
  max_age?: number;
  secure?: boolean;
  http_only?: boolean;
}

/** k6's CookieJar: a script-made jar (`new http.CookieJar()`) or a view of the VU's own. */
export class CookieJar {
  readonly [STORE]: CookieStore;

  /** With no store, a new empty jar (the script's `new http.CookieJar()`). */
  constructor(store?: CookieStore) {
    this[STORE] = store instanceof CookieStore ? store : new CookieStore();
  }

  set(url: string, name: string, value: string, opts?: CookieOptions): void {
    const u = new URL(url);
    const maxAge = opts?.max_age;
    this[STORE].set({
      name,
      value: String(value),
      domain: opts?.domain?.replace(/^\./, '') ?? u.hostname,
      hostOnly: opts?.domain === undefined,
      path: opts?.path ?? '/',
      secure: opts?.secure ?? false,
      httpOnly: opts?.http_only ?? false,
      expires:
        maxAge !== undefined
          ? Date.now() + maxAge * 1000
          : opts?.expires !== undefined
            ? Date.parse(opts.expires)
            : Number.POSITIVE_INFINITY,
    });
  }

  cookiesForURL(url: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const c of this[STORE].forUrl(new URL(url))) (out[c.name] ??= []).push(c.value);
    return out;
  }

  clear(url: string): void {
    const u = new URL(url);
    for (const c of this[STORE].forUrl(u)) this[STORE].delete(u, c.name);
  }

  delete(url: string, name: string): void {
    this[STORE].delete(new URL(url), name);
  }
}

/** k6/http's TLS and OCSP constants. */
export const HTTP_CONSTANTS: Readonly<Record<string, string>> = {
  SSL_3_0: 'ssl3.0',
  TLS_1_0: 'tls1.0',
  TLS_1_1: 'tls1.1',
  TLS_1_2: 'tls1.2',
  TLS_1_3: 'tls1.3',
  OCSP_STATUS_GOOD: 'good',
  OCSP_STATUS_REVOKED: 'revoked',
  OCSP_STATUS_SERVER_FAILED: 'server_failed',
  OCSP_STATUS_UNKNOWN: 'unknown',
  OCSP_REASON_UNSPECIFIED: 'unspecified',
  OCSP_REASON_KEY_COMPROMISE: 'key_compromise',
  OCSP_REASON_CA_COMPROMISE: 'ca_compromise',
  OCSP_REASON_AFFILIATION_CHANGED: 'affiliation_changed',
  OCSP_REASON_SUPERSEDED: 'superseded',
  OCSP_REASON_CESSATION_OF_OPERATION: 'cessation_of_operation',
  OCSP_REASON_CERTIFICATE_HOLD: 'certificate_hold',
  OCSP_REASON_REMOVE_FROM_CRL: 'remove_from_crl',
  OCSP_REASON_PRIVILEGE_WITHDRAWN: 'privilege_withdrawn',
  OCSP_REASON_AA_COMPROMISE: 'aa_compromise',
};
