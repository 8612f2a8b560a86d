// Several filter chains per listener, chosen per connection by filter_chain_match in Envoy's
// order of precedence; listener filters (tls_inspector with real ClientHellos from node:tls,
// http_inspector with curl and an h2c preface); a chain's network filters in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { validateBootstrap, ConfigInvalidError, routeConfigurationSchema } from '../../../proxy/index.js';
import { parseClientHello } from '../../../proxy/extensions/filters/listener/tls_inspector/client-hello.js';
import { detectHttp } from '../../../proxy/extensions/filters/listener/http_inspector/index.js';
import {
  freePort,
  HCM_TYPE,
  listenBacklog,
  rawExchange,
  request,
  ROUTER,
  startTestProxy,
  type RunningProxy,
} from '../helpers.js';

const execFileAsync = promisify(execFile);
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
const HTTP_INSPECTOR = {
  name: 'envoy.filters.listener.http_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' },
};

/** A chain that answers every connection with its own name and closes (direct_response). */
function answering(name: string, match?: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    ...(match === undefined ? {} : { filter_chain_match: match }),
    filters: [
      {
        name: 'envoy.filters.network.direct_response',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config',
          response: { inline_string: name },
        },
      },
    ],
  };
}

/** An HTTP connection manager answering every request with `body` (a direct_response route). */
function hcm(body: string): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: body,
      http_protocol_options: { accept_http_10: true },
      route_config: {
        virtual_hosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }],
          },
        ],
      },
      http_filters: [ROUTER],
    },
  };
}

function listener(name: string, extra: Record<string, unknown>, port = 0): Record<string, unknown> {
  return { name, address: { socket_address: { address: '127.0.0.1', port_value: port } }, ...extra };
}

/** The first flight of a real TLS client (node:tls), captured by a plain TCP server. */
async function clientHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (s) => {
        let got = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
            resolve(got);
            s.destroy();
          }
        });
        s.on('error', () => {});
      });
      const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
      client.on('error', () => {});
      client.on('close', () => reject(new Error('no ClientHello')));
    });
  } finally {
    server.close();
  }
}

async function counter(proxy: RunningProxy, name: string): Promise<number | undefined> {
  return (await proxy.server.stats()).counters.find((c) => c.name === name)?.value;
}

describe('filter_chain_match', () => {
  let proxy: RunningProxy;
  const ports: Record<string, number> = {};
  let fixedPort = 0;
  let clientPort = 0;
  let otherClientPort = 0;

  beforeAll(async () => {
    fixedPort = await freePort();
    clientPort = await freePort();
    otherClientPort = await freePort();
    proxy = await startTestProxy({
      static_resources: {
        listeners: [
          // destination_port comes first: it wins over a more specific destination IP.
          listener(
            'port_first',
            {
              filter_chains: [
                answering('by-ip', { prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] }),
                answering('by-port', { destination_port: fixedPort }),
                answering('other-port', { destination_port: 1 }),
              ],
            },
            fixedPort,
          ),
          // The longest matching prefix wins; a chain without prefix_ranges is the least specific.
          listener('prefix_ranges', {
            filter_chains: [
              answering('slash-8', { prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }),
              answering('slash-32', { prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] }),
              answering('ten', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
              answering('no-ranges'),
            ],
          }),
          listener('source_prefix_ranges', {
            filter_chains: [
              answering('from-ten', { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
              answering('from-loopback', { source_prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }),
            ],
          }),
          listener('default_chain', {
            filter_chains: [
              answering('from-ten', { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }),
            ],
            default_filter_chain: answering('the-default'),
          }),
          // Direct source IP comes before source type, source IP and source port.
          listener('source_side', {
            filter_chains: [
              answering('direct-127.0.0.2', {
                direct_source_prefix_ranges: [{ address_prefix: '127.0.0.2', prefix_len: 32 }],
              }),
              answering('by-source-port', { source_ports: [clientPort] }),
              answering('loopback', { source_type: 'SAME_IP_OR_LOOPBACK' }),
            ],
          }),
          listener('source_ports', {
            filter_chains: [answering('by-source-port', { source_ports: [otherClientPort] }), answering('any-port')],
          }),
          listener('no_match', {
            stat_prefix: 'no_match',
            filter_chains: [answering('external-only', { source_type: 'EXTERNAL' })],
          }),
          // SNI before transport protocol: an exact name, then the longest wildcard, then no server_names.
          listener('server_names', {
            listener_filters: [TLS_INSPECTOR],
            filter_chains: [
              answering('exact', { server_names: ['www.example.com'] }),
              answering('wildcard', { server_names: ['*.example.com'] }),
              answering('tld', { server_names: ['*.com'] }),
              answering('tls-without-sni', { transport_protocol: 'tls' }),
              answering('plaintext'),
            ],
          }),
          listener('protocols', {
            listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
            filter_chains: [
              answering('tls-h2', { transport_protocol: 'tls', application_protocols: ['h2'] }),
              answering('tls-other', { transport_protocol: 'tls' }),
              answering('h2c', { transport_protocol: 'raw_buffer', application_protocols: ['h2c'] }),
              { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [hcm('plain-http')] },
            ],
          }),
        ],
      },
    });
    for (const l of proxy.server.listeners()) ports[l.name] = Number(l.localAddress.split(':').pop());
  });
  afterAll(() => proxy.close());

  const plain = (name: string) => rawExchange(ports[name]!, 'hello\r\n');

  it('destination_port outranks a more specific destination IP', async () => {
    expect(await plain('port_first')).toBe('by-port');
  });

  it('prefix_ranges: the longest matching prefix wins', async () => {
    expect(await plain('prefix_ranges')).toBe('slash-32');
  });

  it('source_prefix_ranges select by the peer address', async () => {
    expect(await plain('source_prefix_ranges')).toBe('from-loopback');
  });

  it('direct_source_prefix_ranges before source_type; source_ports', async () => {
    const from = (options: { port?: number; localAddress?: string; localPort?: number }) =>
      new Promise<string>((resolve) => {
        const sock = net.connect({ port: ports.source_side!, host: '127.0.0.1', ...options });
        const chunks: Buffer[] = [];
        sock.on('data', (d) => chunks.push(d));
        sock.on('error', () => {});
        sock.on('close', () => resolve(Buffer.concat(chunks).toString()));
      });
    expect(await from({ localAddress: '127.0.0.2', localPort: clientPort })).toBe('direct-127.0.0.2');
    // From 127.0.0.1 the direct-source chain is out; SAME_IP_OR_LOOPBACK is more specific than
    // "any source type", so source_ports is never consulted for the chain without a type.
    expect(await from({ localAddress: '127.0.0.1', localPort: clientPort })).toBe('loopback');
    expect(await from({ port: ports.source_ports!, localPort: otherClientPort })).toBe('by-source-port');
    expect(await from({ port: ports.source_ports! })).toBe('any-port');
  });

  it('default_filter_chain takes what no chain matches; without it the connection is closed', async () => {
    expect(await plain('default_chain')).toBe('the-default');
    expect(await plain('no_match')).toBe('');
    expect(await counter(proxy, 'listener.no_match.no_filter_chain_match')).toBe(1);
  });

  it('server_names from a real ClientHello: exact, then wildcards longest first, then none', async () => {
    const port = ports.server_names!;
    expect(await rawExchange(port, await clientHello({ servername: 'www.example.com' }))).toBe('exact');
    expect(await rawExchange(port, await clientHello({ servername: 'API.example.com' }))).toBe('wildcard');
    expect(await rawExchange(port, await clientHello({ servername: 'a.b.example.com' }))).toBe('wildcard');
    expect(await rawExchange(port, await clientHello({ servername: 'shop.com' }))).toBe('tld');
    expect(await rawExchange(port, await clientHello({ servername: 'example.org' }))).toBe('tls-without-sni');
    expect(await rawExchange(port, await clientHello({}))).toBe('tls-without-sni');
    expect(await plain('server_names')).toBe('plaintext');
    expect(await counter(proxy, 'tls_inspector.sni_found')).toBe(5);
  });

  it('transport_protocol and application_protocols from tls_inspector (ALPN) and http_inspector', async () => {
    const port = ports.protocols!;
    expect(
      await rawExchange(port, await clientHello({ servername: 'x.test', ALPNProtocols: ['h2', 'http/1.1'] })),
    ).toBe('tls-h2');
    expect(await rawExchange(port, await clientHello({ ALPNProtocols: ['http/1.1'] }))).toBe('tls-other');
    expect(await rawExchange(port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')).toBe('h2c');
    // The inspected bytes reach the connection manager unchanged: a real client gets its answer.
    const r = await request(port, '/anything', { method: 'POST', body: 'x'.repeat(100_000) });
    expect([r.status, r.body]).toEqual([200, 'plain-http']);
    const { stdout } = await execFileAsync('curl', ['-s', '--http1.0', `http://127.0.0.1:${port}/`]);
    expect(stdout).toBe('plain-http');
    expect(await counter(proxy, 'http_inspector.http11_found')).toBe(1);
    expect(await counter(proxy, 'http_inspector.http10_found')).toBe(1);
    expect(await counter(proxy, 'http_inspector.http2_found')).toBe(1);
  });

  it('closes a connection that half-closes before the inspectors decided, and keeps serving', async () => {
    const port = ports.protocols!;
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('GET /partial'));
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
    expect(answer).toBe('');
    expect((await request(port, '/')).body).toBe('plain-http');
  });

  it('a ClientHello split across TCP segments is still read whole', async () => {
    const hello = await clientHello({ servername: 'www.example.com' });
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(ports.server_names!, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks).toString()));
      s.on('error', () => {});
      s.setNoDelay(true);
      s.write(hello.subarray(0, 3));
      setTimeout(() => s.write(hello.subarray(3, 60)), 50);
      setTimeout(() => s.write(hello.subarray(60)), 100);
    });
    expect(answer).toBe('exact');
  });
});

describe('listener_filters_timeout', () => {
  let proxy: RunningProxy;
  const ports: Record<string, number> = {};
  beforeAll(async () => {
    const common = {
      listener_filters: [TLS_INSPECTOR],
      listener_filters_timeout: '0.2s',
      filter_chains: [answering('tls', { transport_protocol: 'tls' })],
      default_filter_chain: answering('fallback'),
    };
    proxy = await startTestProxy({
      static_resources: {
        listeners: [
          listener('closes', { ...common, stat_prefix: 'closes' }),
          listener('continues', { ...common, stat_prefix: 'continues', continue_on_listener_filters_timeout: true }),
        ],
      },
    });
    for (const l of proxy.server.listeners()) ports[l.name] = Number(l.localAddress.split(':').pop());
  });
  afterAll(() => proxy.close());

  /** Connects and sends nothing (a server-first protocol): the inspector never gets its bytes. */
  const silent = (port: number) => rawExchange(port, '', 5000);

  it('closes a connection whose listener filters did not finish in time', async () => {
    expect(await silent(ports.closes!)).toBe('');
    expect(await counter(proxy, 'listener.closes.downstream_pre_cx_timeout')).toBe(1);
  });

  it('or chooses a chain with what is known when continue_on_listener_filters_timeout is set', async () => {
    expect(await silent(ports.continues!)).toBe('fallback');
    expect(await counter(proxy, 'listener.continues.downstream_pre_cx_timeout')).toBe(1);
  });
});

describe("a chain's network filters run in order", () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      static_resources: {
        listeners: [
          listener('limited', {
            filter_chains: [
              {
                filters: [
                  {
                    name: 'envoy.filters.network.connection_limit',
                    typed_config: {
                      '@type':
                        'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
                      stat_prefix: 'one_at_a_time',
                      max_connections: 1,
                    },
                  },
                  hcm('served'),
                ],
              },
            ],
          }),
        ],
      },
    });
  });
  afterAll(() => proxy.close());

  it('connection_limit refuses the second connection before the HCM sees it', async () => {
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    const first = await request(proxy.port, '/', { agent });
    expect(first.body).toBe('served');
    // The first connection is still open (keep-alive): a second one is over the limit.
    expect(await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n')).toBe('');
    expect(await counter(proxy, 'connection_limit.one_at_a_time.limited_connections')).toBe(1);
    agent.destroy();
    // Once it closed, a new connection is admitted again.
    let again = '';
    for (let i = 0; i < 50 && !again.includes('served'); i++)
      again = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(again).toContain('served');
  });
});

describe('listener config validation', () => {
  function problems(listeners: unknown[]): string[] {
    try {
      validateBootstrap({ static_resources: { listeners } });
    } catch (err) {
      if (err instanceof ConfigInvalidError) return [...err.problems];
      throw err;
    }
    return [];
  }

  it('refuses a terminal filter before the end and a non-terminal filter at the end', () => {
    const limit = {
      name: 'envoy.filters.network.connection_limit',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
        stat_prefix: 'x',
        max_connections: 1,
      },
    };
    expect(problems([listener('l', { filter_chains: [{ filters: [hcm('a'), hcm('b')] }] })])).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0]: terminal filter 'envoy.filters.network.http_connection_manager' must be the last filter of its filter chain",
    ]);
    expect(problems([listener('l', { filter_chains: [{ filters: [hcm('a'), limit] }] })])).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0]: terminal filter 'envoy.filters.network.http_connection_manager' must be the last filter of its filter chain",
      "static_resources.listeners[0].filter_chains[0].filters[1]: non-terminal filter 'envoy.filters.network.connection_limit' cannot be the last filter of a filter chain",
    ]);
  });

  it('refuses chains with the same matching rules, partial wildcards and bad ranges', () => {
    expect(
      problems([
        listener('l', {
          filter_chains: [
            answering('a', { server_names: ['a.example.com', 'b.example.com'] }),
            answering('b', { server_names: ['B.example.com'] }),
            answering('c', { server_names: ['*w.example.com'] }),
            answering('d', { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 33 }] }),
            answering('e', { prefix_ranges: [{ address_prefix: 'ten', prefix_len: 8 }] }),
          ],
        }),
      ]),
    ).toEqual([
      'static_resources.listeners[0].filter_chains[2].filter_chain_match.server_names[0]: partial wildcards are not supported in server_names (only a leading "*.")',
      "static_resources.listeners[0].filter_chains[3].filter_chain_match.prefix_ranges[0]: prefix_len 33 exceeds 32 for '10.0.0.1'",
      "static_resources.listeners[0].filter_chains[4].filter_chain_match.prefix_ranges[0]: 'ten' is not an IP address",
      'static_resources.listeners[0].filter_chains[1].filter_chain_match: matches the same connections as filter_chains[0] (multiple filter chains with the same matching rules)',
    ]);
  });

  it('needs a filter chain or a default chain, and knows listener filters by name', () => {
    expect(
      problems([listener('l', { filter_chains: [], listener_filters: [{ name: 'envoy.filters.listener.nope' }] })]),
    ).toEqual([
      "static_resources.listeners[0].listener_filters[0].name: unsupported listener filter extension 'envoy.filters.listener.nope'; supported: envoy.filters.listener.tls_inspector, envoy.filters.listener.http_inspector",
      'static_resources.listeners[0].filter_chains: a listener needs at least one filter chain or a default_filter_chain',
    ]);
  });
});

describe('inspectors at every byte split', () => {
  it('a ClientHello prefix always asks for more; the whole one yields SNI and ALPN', async () => {
    const hello = await clientHello({ servername: 'www.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
    for (let n = 0; n < hello.length; n++) expect(parseClientHello(hello.subarray(0, n)).kind).toBe('need_more_data');
    expect(parseClientHello(hello)).toEqual({
      kind: 'tls',
      serverName: 'www.example.com',
      applicationProtocols: ['h2', 'http/1.1'],
    });
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('not_tls');
  });

  it('a request line or h2 preface prefix asks for more; the whole one is classified', () => {
    const cases: Array<[string, string]> = [
      ['GET /path HTTP/1.1\r\n', 'http/1.1'],
      ['OPTIONS * HTTP/1.0\r\n', 'http/1.0'],
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2c'],
    ];
    for (const [text, expected] of cases) {
      const bytes = Buffer.from(text, 'latin1');
      for (let n = 1; n < bytes.length; n++) expect(detectHttp(bytes.subarray(0, n))).toBe('need_more_data');
      expect(detectHttp(bytes)).toBe(expected);
    }
    expect(detectHttp(Buffer.from('get / HTTP/1.1\r\n'))).toBe('not_http');
    expect(detectHttp(Buffer.from('GET / HTTP/2.0\r\n'))).toBe('not_http');
    expect(detectHttp(Buffer.from('SSH-2.0-OpenSSH\r\n'))).toBe('not_http');
  });
});

describe('route updates (RDS) reach the HCM of every chain', () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      static_resources: {
        listeners: [
          listener('rds', {
            filter_chains: [
              {
                filter_chain_match: { source_prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] },
                filters: [hcm('first-chain')],
              },
            ],
            default_filter_chain: { filters: [hcm('default-chain')] },
          }),
        ],
      },
    });
  });
  afterAll(() => proxy.close());

  /** A request from 127.0.0.2, which the first chain's source range does not cover. */
  const fromOtherSource = () =>
    new Promise<string>((resolve) => {
      const s = net.connect({ port: proxy.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      const chunks: Buffer[] = [];
      s.on('connect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
      s.on('data', (d) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks).toString().split('\r\n\r\n')[1] ?? ''));
    });

  it('swaps the route table of both chains in place', async () => {
    expect((await request(proxy.port, '/')).body).toBe('first-chain');
    expect(await fromOtherSource()).toBe('default-chain');
    const routes = routeConfigurationSchema.parse({
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'after' } } }],
        },
      ],
    });
    await proxy.server.updateListenerRoutes('rds', routes);
    expect((await request(proxy.port, '/')).body).toBe('after');
    expect(await fromOtherSource()).toBe('after');
  });
});

describe('tcp_backlog_size', () => {
  const listener = (backlog?: number): Record<string, unknown> => ({
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    ...(backlog === undefined ? {} : { tcp_backlog_size: backlog }),
    filter_chains: [answering('queued')],
  });

  it("sets the listen(2) backlog, and is the kernel's somaxconn when unset (Envoy's default)", async () => {
    const somaxconn = Number((await import('node:fs')).readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const sized = await startTestProxy({ static_resources: { listeners: [listener(77)] } });
    const unset = await startTestProxy({ static_resources: { listeners: [listener()] } });
    try {
      expect(await listenBacklog(sized.port)).toBe(77);
      expect(await listenBacklog(unset.port)).toBe(somaxconn);
    } finally {
      await sized.close();
      await unset.close();
    }
  });
});
