// A local stand-in for the public test services k6's examples and documentation call
// (quickpizza.grafana.com, httpbin.org, test.k6.io, test-api.k6.io and their WebSocket echoes):
// the paths those scripts use, answered the way the scripts check them, on 127.0.0.1. Anything
// else is answered as httpbin's /anything does (the request echoed as JSON), so an unknown path
// still gives a script a 200 and a body to parse. For bench/loadgen-examples.ts only.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const HOME = `<!DOCTYPE html><html><head><title>Demo website for load testing</title></head><body>
<p class="description">Collection of simple web-pages suitable for load testing.</p>
<a href="/contacts.php">contacts</a> <a href="/news.php">news</a> <a href="/my_messages.php">messages</a>
<img src="/static/logo.svg"><link rel="stylesheet" href="/static/css/site.css"><script src="/static/js/prisms.js"></script>
<form action="/login.php" method="post"><input type="hidden" name="csrftoken" value="abc123">
<input name="login"><input name="password" type="password"><input type="submit" value="Go!"></form>
<h1>Welcome</h1><h2>QuickPizza</h2>
<p>This is a replacement of the service that used to run at test.k6.io.</p></body></html>`;

const MESSAGES = `<!DOCTYPE html><html><body><h2>Unauthorized</h2>
<form method="post" action="/login.php"><input type="hidden" name="csrftoken" value="abc123">
<input type="hidden" name="redir" value="1"><input name="login"><input name="password" type="password">
<input type="submit" value="Go!"></form></body></html>`;

interface Req {
  readonly method: string;
  readonly url: URL;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function echo(r: Req): Record<string, unknown> {
  const text = r.body.toString('utf8');
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {}
  const form: Record<string, string | string[]> = {};
  if (String(r.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(text)) {
      const prev = form[k];
      form[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    headers[k.replace(/(^|-)([a-z])/g, (_m, a: string, b: string) => a + b.toUpperCase())] = String(v);
  }
  return {
    args: Object.fromEntries(r.url.searchParams),
    data: text,
    files: {},
    form,
    headers,
    json,
    method: r.method,
    origin: '127.0.0.1',
    url: r.url.href,
  };
}

function digestOk(r: Req, user: string, pass: string): boolean {
  const h = String(r.headers.authorization ?? '');
  if (!h.startsWith('Digest ')) return false;
  const f: Record<string, string> = {};
  for (const m of h.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) f[m[1]!] = m[2] ?? m[3] ?? '';
  const md5 = (s: string): string => crypto.createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${user}:${f.realm}:${pass}`);
  const ha2 = md5(`${r.method}:${f.uri}`);
  const expect = f.qop ? md5(`${ha1}:${f.nonce}:${f.nc}:${f.cnonce}:${f.qop}:${ha2}`) : md5(`${ha1}:${f.nonce}:${ha2}`);
  return f.username === user && f.response === expect;
}

type Reply = { status: number; type?: string; body?: string | Buffer; headers?: Record<string, string | string[]> };

const json = (v: unknown, status = 200): Reply => ({ status, type: 'application/json', body: JSON.stringify(v) });

function route(r: Req): Reply {
  const p = r.url.pathname.replace(/^\/api(?=\/)/, '');
  const seg = p.split('/').filter(Boolean);
  if (p === '/' || p === '/index.html' || p === '/test.k6.io/')
    return { status: 200, type: 'text/html; charset=utf-8', body: HOME };
  if (p === '/my_messages.php' || p === '/browser.php')
    return { status: 200, type: 'text/html; charset=utf-8', body: MESSAGES };
  if (p === '/login.php' || p === '/login')
    return {
      status: 200,
      type: 'text/html',
      body: '<html><body><h2>Welcome, admin!</h2></body></html>',
      headers: { 'set-cookie': 'sid=abc; Path=/' },
    };
  if (p.startsWith('/static/') || p.endsWith('.php') || p.endsWith('.css') || p.endsWith('.js'))
    return { status: 200, type: 'text/plain', body: 'static' };
  switch (seg[0]) {
    case 'status':
      return { status: Number(seg[1] ?? 200) || 200, type: 'text/plain', body: '' };
    case 'delay':
      return json(echo(r));
    case 'headers':
      return json({ headers: echo(r).headers });
    case 'ip':
      return json({ origin: '127.0.0.1' });
    case 'user-agent':
      return json({ 'user-agent': r.headers['user-agent'] ?? '' });
    case 'uuid':
      return json({ uuid: crypto.randomUUID() });
    case 'bytes':
      return {
        status: 200,
        type: 'application/octet-stream',
        body: crypto.randomBytes(Math.min(Number(seg[1]) || 0, 1e6)),
      };
    case 'html':
      return { status: 200, type: 'text/html', body: HOME };
    case 'xml':
      return {
        status: 200,
        type: 'application/xml',
        body: '<?xml version="1.0"?><slideshow title="Sample"></slideshow>',
      };
    case 'cookies': {
      if (seg[1] === 'set') {
        const set = [...r.url.searchParams].map(([k, v]) => `${k}=${v}; Path=/`);
        return { status: 302, headers: { location: '/cookies', 'set-cookie': set } };
      }
      const cookies: Record<string, string> = {};
      for (const part of String(r.headers.cookie ?? '').split(/;\s*/))
        if (part.includes('=')) cookies[part.slice(0, part.indexOf('='))] = part.slice(part.indexOf('=') + 1);
      if (r.method === 'POST' || r.url.searchParams.size > 0) {
        const set = [...r.url.searchParams].map(([k, v]) => `${k}=${v}; Path=/`);
        return { ...json({ cookies }), headers: { 'set-cookie': set } };
      }
      return json({ cookies });
    }
    case 'redirect':
    case 'relative-redirect':
    case 'absolute-redirect': {
      const n = Number(seg[1] ?? 1);
      return { status: 302, headers: { location: n > 1 ? `/redirect/${n - 1}` : '/get' } };
    }
    case 'redirect-to':
      return { status: 302, headers: { location: r.url.searchParams.get('url') ?? '/get' } };
    case 'basic-auth': {
      const want = `Basic ${Buffer.from(`${seg[1]}:${seg[2]}`).toString('base64')}`;
      return r.headers.authorization === want
        ? json({ authenticated: true, user: seg[1] })
        : { status: 401, headers: { 'www-authenticate': 'Basic realm="Fake Realm"' } };
    }
    case 'digest-auth': {
      const [user, pass] = [seg[2] ?? 'user', seg[3] ?? 'passwd'];
      if (digestOk(r, user, pass)) return json({ authenticated: true, user });
      const nonce = crypto.randomBytes(8).toString('hex');
      return {
        status: 401,
        headers: {
          'www-authenticate': `Digest realm="me@kennethreitz.com", nonce="${nonce}", qop="auth", opaque="x", algorithm=MD5`,
        },
      };
    }
    case 'bearer':
      return String(r.headers.authorization ?? '').startsWith('Bearer ')
        ? json({ authenticated: true, token: String(r.headers.authorization).slice(7) })
        : { status: 401 };
    case 'pizza':
      return json({
        pizza: { id: 1, name: 'Margherita', dough: { name: 'Thin' }, ingredients: [{ name: 'Tomato' }], tool: 'Knife' },
        calories: 900,
        vegetarian: true,
      });
    case 'ratings':
      return r.method === 'GET'
        ? json({ ratings: [{ id: 1, stars: 5, pizza_id: 1 }] })
        : json({ id: 1, stars: 5 }, 201);
    case 'users':
      if (seg[1] === 'token') return json({ token: 'abcdef0123456789' });
      return json({ id: 1, username: 'default' }, 201);
    case 'csrf-token':
      return { ...json({ csrf: 'abc123' }), headers: { 'set-cookie': 'csrf_token=abc123; Path=/' } };
    case 'names':
    case 'quotes':
    case 'tools':
    case 'doughs':
    case 'ingredients':
      return json({ [seg[0]]: ['one', 'two'] });
    case 'public':
      return seg[2] ? json({ id: Number(seg[2]), name: 'Bert', sex: 'M', age: 5 }) : json([{ id: 1, name: 'Bert' }]);
    case 'auth':
      return json({ access: 'token', refresh: 'refresh' });
    case 'my':
      return json(r.method === 'GET' ? [] : { id: 1, name: 'Croc' }, r.method === 'POST' ? 201 : 200);
    case 'user':
      return json({ id: 1, username: 'user' }, 201);
    default:
      return json(echo(r));
  }
}

export interface Lookalike {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the stand-in on an ephemeral port of 127.0.0.1; HTTP and WebSocket (an echo) on one port. */
export async function startLookalike(): Promise<Lookalike> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Req = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`),
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const reply = route(r);
      const send = (): void => {
        res.writeHead(reply.status, { ...(reply.type ? { 'content-type': reply.type } : {}), ...reply.headers });
        res.end(r.method === 'HEAD' ? undefined : reply.body);
      };
      const delay = r.url.pathname.match(/\/delay\/(\d+(?:\.\d+)?)/);
      if (delay) setTimeout(send, Math.min(Number(delay[1]) * 1000, 2000));
      else send();
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
