// Route table semantics checked directly against Envoy's documented rules: host port
// stripping options, header matcher kinds (range, regex, suffix, repeated headers), query
// parameter presence, redirect variants and header append actions.
import { describe, expect, it } from 'vitest';
import { HeaderMap } from '../../proxy/index.js';
import { RouteTable, applyHeaderMutation } from '../../proxy/core/router/route-table.js';
import { routeConfigurationSchema } from '../../proxy/api/schema.js';
import { StreamInfo } from '../../proxy/core/stream-info.js';

function table(cfg: unknown, opts: { stripAnyHostPort?: boolean; stripMatchingPort?: number | null } = {}): RouteTable {
  return new RouteTable(routeConfigurationSchema.parse(cfg), {
    stripAnyHostPort: opts.stripAnyHostPort ?? false,
    stripMatchingPort: opts.stripMatchingPort ?? null,
  });
}

function headers(pairs: Array<[string, string]>): HeaderMap {
  const h = new HeaderMap();
  for (const [n, v] of pairs) h.add(n, v);
  return h;
}

const vh = (
  name: string,
  domains: string[],
  routes: unknown[] = [{ match: { prefix: '/' }, route: { cluster: name } }],
) => ({ name, domains, routes });

describe('RouteTable', () => {
  it('strip_any_host_port and strip_matching_host_port', () => {
    const cfg = { virtual_hosts: [vh('exact', ['api.example.com']), vh('fallback', ['*'])] };
    expect(table(cfg).findVirtualHost('api.example.com:8080')?.name).toBe('fallback');
    expect(table(cfg, { stripAnyHostPort: true }).findVirtualHost('api.example.com:8080')?.name).toBe('exact');
    expect(table(cfg, { stripMatchingPort: 8080 }).findVirtualHost('api.example.com:8080')?.name).toBe('exact');
    expect(table(cfg, { stripMatchingPort: 9090 }).findVirtualHost('api.example.com:8080')?.name).toBe('fallback');
    expect(table(cfg, { stripAnyHostPort: true }).findVirtualHost('[::1]')?.name).toBe('fallback');
  });

  it('wildcards never match the empty string; suffix beats prefix', () => {
    const t = table({ virtual_hosts: [vh('suffix', ['*-bar.foo.com']), vh('prefix', ['foo.*'])] });
    expect(t.findVirtualHost('baz-bar.foo.com')?.name).toBe('suffix');
    expect(t.findVirtualHost('-bar.foo.com')).toBeNull();
    expect(t.findVirtualHost('foo.')).toBeNull();
    expect(t.findVirtualHost('foo.bar')?.name).toBe('prefix');
  });

  it('header matchers: range, regex, suffix, invert, repeated values joined by commas', () => {
    const t = table({
      virtual_hosts: [
        vh(
          'v',
          ['*'],
          [
            {
              match: { prefix: '/', headers: [{ name: 'x-n', range_match: { start: 10, end: 20 } }] },
              route: { cluster: 'range' },
            },
            {
              match: { prefix: '/', headers: [{ name: 'x-id', safe_regex_match: { regex: '[a-f]+' } }] },
              route: { cluster: 'regex' },
            },
            {
              match: { prefix: '/', headers: [{ name: 'x-s', suffix_match: '.internal' }] },
              route: { cluster: 'suffix' },
            },
            { match: { prefix: '/', headers: [{ name: 'x-list', exact_match: 'a,b' }] }, route: { cluster: 'joined' } },
            {
              match: { prefix: '/', headers: [{ name: 'x-env', string_match: { exact: 'prod' }, invert_match: true }] },
              route: { cluster: 'not-prod' },
            },
            { match: { prefix: '/' }, route: { cluster: 'default' } },
          ],
        ),
      ],
    });
    const pick = (pairs: Array<[string, string]>) => t.route('h', '/', '', headers(pairs))?.clusterName;
    expect(pick([['x-n', '15']])).toBe('range');
    expect(pick([['x-n', '20']])).toBe('default');
    expect(pick([['x-id', 'cafe']])).toBe('regex');
    expect(pick([['x-id', 'cafe1']])).toBe('default');
    expect(pick([['x-s', 'db.internal']])).toBe('suffix');
    expect(
      pick([
        ['x-list', 'a'],
        ['x-list', 'b'],
      ]),
    ).toBe('joined');
    expect(pick([['x-env', 'dev']])).toBe('not-prod');
    // A missing header never satisfies a value matcher, inverted or not.
    expect(pick([])).toBe('default');
  });

  it('query parameter presence and value matchers', () => {
    const t = table({
      virtual_hosts: [
        vh(
          'v',
          ['*'],
          [
            {
              match: { prefix: '/', query_parameters: [{ name: 'debug', present_match: true }] },
              route: { cluster: 'debug' },
            },
            {
              match: { prefix: '/', query_parameters: [{ name: 'v', string_match: { prefix: '2.' } }] },
              route: { cluster: 'v2' },
            },
            { match: { prefix: '/' }, route: { cluster: 'default' } },
          ],
        ),
      ],
    });
    expect(t.route('h', '/x', 'debug', new HeaderMap())?.clusterName).toBe('debug');
    expect(t.route('h', '/x', 'v=2.1', new HeaderMap())?.clusterName).toBe('v2');
    expect(t.route('h', '/x', 'v=1.0', new HeaderMap())?.clusterName).toBe('default');
  });

  it('redirects: scheme/port/prefix/regex/strip_query', () => {
    const t = table({
      virtual_hosts: [
        vh(
          'v',
          ['*'],
          [
            {
              match: { prefix: '/old/' },
              redirect: { prefix_rewrite: '/new/', strip_query: true, response_code: 'FOUND' },
            },
            { match: { prefix: '/port' }, redirect: { port_redirect: 8443, scheme_redirect: 'https' } },
            {
              match: { prefix: '/rx' },
              redirect: { regex_rewrite: { pattern: { regex: '^/rx/(\\d+)$' }, substitution: '/items/\\1' } },
            },
          ],
        ),
      ],
    });
    const loc = (path: string, query = '') =>
      t.route('site.test:8080', path, query, new HeaderMap())!.redirectLocation('http', 'site.test:8080', path, query);
    expect(loc('/old/a/b', 'q=1')).toBe('http://site.test:8080/new/a/b');
    expect(t.route('h', '/old/x', '', new HeaderMap())!.redirect!.code).toBe(302);
    expect(loc('/port')).toBe('https://site.test:8443/port');
    expect(loc('/rx/42')).toBe('http://site.test:8080/items/42');
  });

  it('header append actions', () => {
    const t = table({
      virtual_hosts: [
        vh(
          'v',
          ['*'],
          [
            {
              match: { prefix: '/' },
              route: { cluster: 'c' },
              request_headers_to_add: [
                { header: { key: 'x-append', value: 'two' } },
                { header: { key: 'x-if-absent', value: 'new' }, append_action: 'ADD_IF_ABSENT' },
                { header: { key: 'x-overwrite', value: 'new' }, append: false },
                { header: { key: 'x-only-if-exists', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS' },
                { header: { key: 'x-empty', value: '' } },
              ],
            },
          ],
        ),
      ],
    });
    const h = headers([
      ['x-append', 'one'],
      ['x-if-absent', 'old'],
      ['x-overwrite', 'old1'],
      ['x-overwrite', 'old2'],
    ]);
    const route = t.route('h', '/', '', h)!;
    const info = new StreamInfo('l', '127.0.0.1', 1, '127.0.0.1', 2);
    for (const m of route.requestMutations) applyHeaderMutation(m, h, info);
    expect(h.getAll('x-append')).toEqual(['one', 'two']);
    expect(h.getAll('x-if-absent')).toEqual(['old']);
    expect(h.getAll('x-overwrite')).toEqual(['new']);
    expect(h.has('x-only-if-exists')).toBe(false);
    expect(h.has('x-empty')).toBe(false);
  });
});
