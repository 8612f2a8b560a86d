// k6/html against pages from a real HTTP server (parseHTML, res.html(), Selection and Element,
// submitForm and clickLink sending what a browser would), and k6/crypto against known digests.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checks, failedChecks, run, scriptDir } from './helpers.js';

const PAGE = `<!DOCTYPE html>
<html lang="en"><head><title>Shop</title></head>
<body>
  <h1 id="top" class="title big" data-section="hero">Welcome</h1>
  <ul id="items"><li class="item">apple</li><li class="item sale">pear</li><li class="item">plum</li></ul>
  <a href="/next?from=page" id="next">next page</a> <a href="https://example.invalid/x">away</a>
  <form id="login" method="POST" action="/submit">
    <input type="hidden" name="csrf" value="t0k3n">
    <input type="text" name="user" value="">
    <input type="checkbox" name="remember" value="yes" checked>
    <input type="checkbox" name="spam" value="yes">
    <select name="lang"><option value="en">English</option><option value="fr" selected>French</option></select>
    <textarea name="note">hi there</textarea>
    <input type="submit" name="go" value="Sign in">
  </form>
  <form id="search" action="/submit"><input name="q" value="pears"></form>
  <table><tr><td>a</td><td>b</td></tr></table>
</body></html>`;

let base = '';
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    if (url.pathname === '/page') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
    } else if (url.pathname === '/submit' || url.pathname === '/next') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          method: req.method,
          path: url.pathname,
          query: url.search,
          body,
          type: req.headers['content-type'] ?? '',
        }),
      );
    } else {
      res.writeHead(404);
      res.end();
    }
  });
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const tmp = scriptDir();

describe('k6/html', () => {
  it('parses pages with Selection and Element, submits forms and follows links', async () => {
    const script = tmp.write(
      'html.js',
      `import http from 'k6/http';
import { parseHTML } from 'k6/html';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const res = http.get(__ENV.BASE + '/page');
  const doc = res.html();
  check(doc, {
    'title text': (d) => d.find('title').text() === 'Shop',
    'attr and data': (d) => d.find('h1').attr('id') === 'top' && d.find('h1').data('section') === 'hero' && d.find('h1').attr('nope', 'dflt') === 'dflt',
    'size, eq, first, last': (d) => d.find('li').size() === 3 && d.find('li').eq(1).text() === 'pear' && d.find('li').first().text() === 'apple' && d.find('li').last().text() === 'plum',
    'map with Selection': (d) => d.find('li.item').map((i, s) => s.text()).join() === 'apple,pear,plum',
    'filter and is': (d) => d.find('li').filter('.sale').text() === 'pear' && d.find('li').filter((i, s) => i === 2).text() === 'plum' && d.find('li').eq(1).is('.sale'),
    'children, closest, next, prev': (d) => d.find('#items').children().size() === 3 && d.find('li.sale').closest('ul').attr('id') === 'items' && d.find('li.sale').next().text() === 'plum' && d.find('li.sale').prev().text() === 'apple',
    'html of first': (d) => d.find('#items').html().startsWith('<li class="item">apple</li>'),
    'val of fields': (d) => d.find('select[name=lang]').val() === 'fr' && d.find('textarea').val() === 'hi there' && d.find('input[name=csrf]').val() === 't0k3n',
    'serialize a form': (d) => d.find('#login').serialize() === 'csrf=t0k3n&user=&remember=yes&lang=fr&note=hi+there',
    'serializeObject': (d) => d.find('#login').serializeObject().lang === 'fr',
    'missing is empty': (d) => d.find('.nothing').size() === 0 && d.find('.nothing').html() === undefined,
  });
  const names = [];
  doc.find('li').each((i, el) => names.push(i + ':' + el.textContent() + ':' + el.nodeName()));
  check(names, { 'each gives Elements': (n) => n.join() === '0:apple:li,1:pear:li,2:plum:li' });
  const h1 = doc.find('h1').get(0);
  check(h1, {
    'Element API': (e) => e.id() === 'top' && e.classList().join() === 'title,big' && e.getAttribute('data-section') === 'hero' && e.nodeType() === 1,
    'Element tree': (e) => e.parentElement().nodeName() === 'body' && e.nextElementSibling().id() === 'items',
    'anchor accessors resolve against the page URL': () => doc.find('#next').get(0).href() === __ENV.BASE + '/next?from=page' && doc.find('#next').get(0).pathname() === '/next',
    'input accessors': () => doc.find('input[name=remember]').get(0).checked() === true && doc.find('input[name=spam]').get(0).checked() === false,
    'querySelectorAll': () => doc.find('table').get(0).querySelectorAll('td').length === 2,
  });
  const fragment = parseHTML('<div><p class="a">one</p><p>two</p></div>');
  check(fragment, { 'parseHTML': (f) => f.find('p').not('.a').text() === 'two' && res.html('li.sale').text() === 'pear' });

  const posted = res.submitForm({ formSelector: '#login', fields: { user: 'ann' } });
  check(posted.json(), {
    'submitForm posts the fields': (j) => j.method === 'POST' && j.path === '/submit' && j.body === 'csrf=t0k3n&user=ann&remember=yes&lang=fr&note=hi+there&go=Sign+in',
    'submitForm sends a form content type': (j) => j.type === 'application/x-www-form-urlencoded',
  });
  const searched = res.submitForm({ formSelector: '#search' });
  check(searched.json(), { 'GET form puts fields in the query': (j) => j.method === 'GET' && j.query === '?q=pears' });
  const clicked = res.clickLink({ selector: '#next' });
  check(clicked.json(), { 'clickLink follows the href': (j) => j.path === '/next' && j.query === '?from=page' });
}
`,
    );
    const r = await run({ script, env: { BASE: base } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(22);
    // The page, the two form submissions and the link.
    expect(r.summary!.metrics.http_reqs!.values.count).toBe(4);
  });
});

describe('k6/crypto', () => {
  it('hashes, HMACs and hashes incrementally in every output encoding', async () => {
    const script = tmp.write(
      'crypto.js',
      `import crypto from 'k6/crypto';
import { sha256, hmac, createHash, createHMAC, randomBytes } from 'k6/crypto';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  check(null, {
    md4: () => crypto.md4('abc', 'hex') === 'a448017aaf21d8525fc10ae87aa6729d' && crypto.md4('', 'hex') === '31d6cfe0d16ae931b73c59d7e0c089c0',
    md5: () => crypto.md5('hello world', 'hex') === '5eb63bbbe01eeed093cb22bb8f5acdc3',
    sha1: () => crypto.sha1('hello world', 'hex') === '2aae6c35c94fcfb415dbe95f408b9ce91ee846ed',
    sha256: () => sha256('hello world', 'hex') === 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
    'sha256 base64': () => sha256('hello world', 'base64') === 'uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=',
    'sha256 base64url/rawurl': () => sha256('hello world', 'base64url') === 'uU0nuZNNPgilLlLX2n2r-sSE7-N6U4DukIj3rOLvzek=' && sha256('hello world', 'base64rawurl') === 'uU0nuZNNPgilLlLX2n2r-sSE7-N6U4DukIj3rOLvzek',
    sha384: () => crypto.sha384('', 'hex').startsWith('38b060a751ac9638'),
    sha512: () => crypto.sha512('', 'hex').startsWith('cf83e1357eefb8bd'),
    sha512_224: () => crypto.sha512_224('', 'hex') === '6ed0dd02806fa89e25de060c19d3ac86cabb87d6a0ddd05c333b84f4',
    sha512_256: () => crypto.sha512_256('', 'hex') === 'c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a',
    ripemd160: () => crypto.ripemd160('', 'hex') === '9c1185a5c5e9fc54612808977ee8f548b2258d31',
    binary: () => { const b = sha256('x', 'binary'); return b instanceof ArrayBuffer && b.byteLength === 32; },
    hmac: () => hmac('sha256', 'key', 'The quick brown fox jumps over the lazy dog', 'hex') === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    createHash: () => { const h = createHash('sha1'); h.update('hello '); h.update('world'); return h.digest('hex') === '2aae6c35c94fcfb415dbe95f408b9ce91ee846ed'; },
    createHMAC: () => { const h = createHMAC('md5', 'key'); h.update('The quick brown fox jumps over the lazy dog'); return h.digest('hex') === '80070713463e7749b90c2dc24911e275'; },
    randomBytes: () => randomBytes(16).byteLength === 16,
  });
  let err = '';
  try { crypto.createHash('sha3'); } catch (e) { err = String(e); }
  check(err, { 'unknown algorithm named': (e) => e.includes("unsupported hash algorithm 'sha3'") });
}
`,
    );
    const r = await run({ script });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/level=error/);
    expect(failedChecks(r)).toEqual([]);
    expect(Object.keys(checks(r)).length).toBe(17);
  });
});
