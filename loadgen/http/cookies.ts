// A VU's cookie jar, as k6 keeps one per VU (and empties it at every iteration unless
// noCookiesReset): Set-Cookie responses fill it, matching cookies go out on later requests.
// Domain matching is host-suffix based (no public-suffix list), which is what a load test needs.

export interface Cookie {
  name: string;
  value: string;
  domain: string;
  /** true when Domain= was given (suffix match), false for host-only cookies. */
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** Unix ms; Infinity for session cookies. */
  expires: number;
}

export interface ResponseCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  http_only: boolean;
  secure: boolean;
  max_age: number;
  expires: number;
}

const SET_COOKIE = /^set-cookie:[ \t]*(.*)$/gim;

/** The Set-Cookie values of a raw header block (never joined: Expires dates contain commas). */
export function setCookieLines(rawHeaders: string): string[] {
  if (rawHeaders.indexOf('ookie') === -1 && rawHeaders.indexOf('OOKIE') === -1) return [];
  const out: string[] = [];
  SET_COOKIE.lastIndex = 0;
  for (let m = SET_COOKIE.exec(rawHeaders); m !== null; m = SET_COOKIE.exec(rawHeaders)) out.push(m[1]!.trim());
  return out;
}

function defaultPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function parseSetCookie(line: string, url: URL, now: number): Cookie | undefined {
  const parts = line.split(';');
  const first = parts[0]!;
  const eq = first.indexOf('=');
  if (eq <= 0) return undefined;
  const c: Cookie = {
    name: first.slice(0, eq).trim(),
    value: first.slice(eq + 1).trim(),
    domain: url.hostname,
    hostOnly: true,
    path: defaultPath(url.pathname),
    secure: false,
    httpOnly: false,
    expires: Infinity,
  };
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    const e = p.indexOf('=');
    const k = (e === -1 ? p : p.slice(0, e)).trim().toLowerCase();
    const v = e === -1 ? '' : p.slice(e + 1).trim();
    if (k === 'domain' && v !== '') {
      c.domain = v.replace(/^\./, '').toLowerCase();
      c.hostOnly = false;
    } else if (k === 'path' && v.startsWith('/')) c.path = v;
    else if (k === 'secure') c.secure = true;
    else if (k === 'httponly') c.httpOnly = true;
    else if (k === 'max-age') {
      const n = Number(v);
      if (Number.isFinite(n)) c.expires = now + n * 1000;
    } else if (k === 'expires' && c.expires === Infinity) {
      const t = Date.parse(v);
      if (Number.isFinite(t)) c.expires = t;
    }
  }
  return c;
}

function domainMatches(c: Cookie, host: string): boolean {
  return c.hostOnly ? host === c.domain : host === c.domain || host.endsWith(`.${c.domain}`);
}

function pathMatches(c: Cookie, path: string): boolean {
  return path === c.path || (path.startsWith(c.path) && (c.path.endsWith('/') || path[c.path.length] === '/'));
}

export class CookieJar {
  #cookies: Cookie[] = [];

  get size(): number {
    return this.#cookies.length;
  }

  clear(): void {
    if (this.#cookies.length !== 0) this.#cookies = [];
  }

  store(url: URL, lines: readonly string[]): void {
    const now = Date.now();
    for (const line of lines) {
      const c = parseSetCookie(line, url, now);
      if (c === undefined) continue;
      // A cookie for another site is refused, as browsers and k6 do.
      if (!c.hostOnly && !domainMatches(c, url.hostname)) continue;
      this.set(c);
    }
  }

  set(c: Cookie): void {
    this.#cookies = this.#cookies.filter((o) => !(o.name === c.name && o.domain === c.domain && o.path === c.path));
    if (c.expires > Date.now()) this.#cookies.push(c);
  }

  delete(url: URL, name: string): void {
    this.#cookies = this.#cookies.filter((c) => !(c.name === name && domainMatches(c, url.hostname)));
  }

  /** Cookies for a request to `url`, longest path first (RFC 6265 order). */
  forUrl(url: URL): Cookie[] {
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires > now);
    return this.#cookies
      .filter(
        (c) =>
          domainMatches(c, url.hostname) && pathMatches(c, url.pathname) && (!c.secure || url.protocol === 'https:'),
      )
      .sort((a, b) => b.path.length - a.path.length);
  }
}
