// The HTTP/1.1 parser must give the same result however TCP splits the bytes: every split
// point of a pipelined request/response stream is tried, including inside CRLFs, chunk-size
// lines and trailers.
import { describe, expect, it } from 'vitest';
import {
  Http1Parser,
  type CodecError,
  type MessageHead,
  type ParserHandler,
} from '../../proxy/core/http/codec/http1/parser.js';

interface Event {
  kind: 'head' | 'body' | 'trailers' | 'complete' | 'error' | 'info';
  value: string;
}

function run(isRequest: boolean, chunks: Buffer[], noBody = false, collectTrailers = false): Event[] {
  const events: Event[] = [];
  const handler: ParserHandler = {
    onHead: (h: MessageHead) =>
      events.push({
        kind: 'head',
        value: `${h.method}${h.target}${h.status} ${h.headers.names.join(',')}=${h.headers.values.join(',')} cl=${h.contentLength} chunked=${h.chunked}`,
      }),
    onInformational: (h: MessageHead) => events.push({ kind: 'info', value: String(h.status) }),
    onBody: (d: Buffer) => {
      const last = events[events.length - 1];
      if (last?.kind === 'body') last.value += d.toString();
      else events.push({ kind: 'body', value: d.toString() });
    },
    onTrailers: (t) => events.push({ kind: 'trailers', value: `${t.names.join(',')}=${t.values.join(',')}` }),
    onMessageComplete: () => (events.push({ kind: 'complete', value: '' }), true),
    onError: (e: CodecError) => events.push({ kind: 'error', value: `${e.status} ${e.details}` }),
  };
  const parser = new Http1Parser(isRequest, handler, { maxHeaderBytes: 8192, maxHeaders: 50 });
  parser.expectNoBody = noBody;
  parser.collectTrailers = collectTrailers;
  for (const c of chunks) parser.execute(c);
  return events;
}

/**
 * Each head (a request or a response, and its wire bytes) is refused with exactly its one
 * expected error, and never reaches the handler as a head.
 */
function expectHeadErrors(cases: Array<[isRequest: boolean, wire: string, error: string]>): void {
  for (const [isRequest, wire, expected] of cases) {
    const ev = run(isRequest, [Buffer.from(wire, 'latin1')]);
    expect(
      ev.filter((e) => e.kind === 'error').map((e) => e.value),
      JSON.stringify(wire),
    ).toEqual([expected]);
    expect(
      ev.some((e) => e.kind === 'head'),
      JSON.stringify(wire),
    ).toBe(false);
  }
}

function everySplit(isRequest: boolean, wire: string, collectTrailers = false): Event[] {
  const bytes = Buffer.from(wire, 'latin1');
  const whole = run(isRequest, [bytes], false, collectTrailers);
  expect(whole.some((e) => e.kind === 'error')).toBe(false);
  for (let i = 1; i < bytes.length; i++) {
    expect(run(isRequest, [bytes.subarray(0, i), bytes.subarray(i)], false, collectTrailers), `split at ${i}`).toEqual(
      whole,
    );
  }
  // And byte by byte.
  expect(
    run(
      isRequest,
      [...bytes].map((b) => Buffer.from([b])),
      false,
      collectTrailers,
    ),
  ).toEqual(whole);
  return whole;
}

describe('Http1Parser', () => {
  it('parses pipelined requests identically at every split point', () => {
    everySplit(
      true,
      'POST /upload?x=1 HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n' +
        '5;name=v\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: t\r\n\r\n' +
        'PUT /b HTTP/1.1\r\nhost: b\r\ncontent-length: 3\r\n\r\nxyz' +
        'GET /c HTTP/1.1\r\nhost: c\r\n\r\n',
    );
  });

  it('collects chunked trailers (enable_trailers) identically at every split point, before the message completes', () => {
    const wire =
      'POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n' +
      'X-Checksum:  abc \r\ngrpc-status: 0\r\n\r\n' +
      'POST /b HTTP/1.1\r\nhost: b\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n';
    const events = everySplit(true, wire, true);
    expect(events.map((e) => e.kind)).toEqual(['head', 'body', 'trailers', 'complete', 'head', 'complete']);
    expect(events[2]!.value).toBe('x-checksum,grpc-status=abc,0');
    // Off (Envoy's default), the same bytes give no trailers.
    expect(run(true, [Buffer.from(wire, 'latin1')]).some((e) => e.kind === 'trailers')).toBe(false);
  });

  it('refuses malformed or oversized trailers when it collects them', () => {
    const head = 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n';
    const bad: Array<[string, string]> = [
      ['400 http1.invalid_trailer', 'no colon\r\n\r\n'],
      ['400 http1.invalid_trailer', 'bad name: v\r\n\r\n'],
      ['400 http1.invalid_trailer', ' folded: v\r\n\r\n'],
      ['400 http1.invalid_characters', 'x: a\x01b\r\n\r\n'],
      ['431 http1.too_many_trailers', `${'x: 1\r\n'.repeat(51)}\r\n`],
      ['431 http1.trailers_too_large', `x: ${'v'.repeat(4000)}\r\ny: ${'v'.repeat(4200)}\r\n\r\n`],
    ];
    for (const [expected, trailers] of bad) {
      const ev = run(true, [Buffer.from(head + trailers, 'latin1')], false, true);
      expect(ev.filter((e) => e.kind === 'error').map((e) => e.value)).toEqual([expected]);
      expect(ev.some((e) => e.kind === 'complete')).toBe(false);
    }
  });

  it('parses responses: 100-continue, chunked, content-length, and close-delimited framing', () => {
    everySplit(
      false,
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nx: y\r\n\r\n' +
        'HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\nbody',
    );
  });

  it('treats a response without framing as delimited by the close', () => {
    const ev = run(false, [Buffer.from('HTTP/1.1 200 OK\r\nx: 1\r\n\r\npart one '), Buffer.from('part two')]);
    expect(ev.map((e) => e.kind)).toEqual(['head', 'body']);
    expect(ev[1]!.value).toBe('part one part two');
  });

  it('gives HEAD responses no body even with content-length', () => {
    const ev = run(false, [Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n')], true);
    expect(ev.map((e) => e.kind)).toEqual(['head', 'complete']);
  });

  it('refuses smuggling shapes wherever the bytes are split', () => {
    const bad: Record<string, string> = {
      '400 http1.content_length_and_chunked_not_allowed':
        'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n',
      '400 http1.multiple_content_length':
        'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n',
      '400 http1.obs_fold_not_allowed': 'GET / HTTP/1.1\r\nhost: x\r\nx: a\r\n\tb\r\n\r\n',
      '400 http1.invalid_chunk_size': 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      '400 http1.invalid_chunk_framing': 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1\r\naXX',
      '400 http1.invalid_characters': 'GET / HTTP/1.1\r\nhost: x\r\nx: a\rb\r\n\r\n',
      '501 http1.invalid_transfer_encoding': 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: identity\r\n\r\n',
    };
    for (const [expected, wire] of Object.entries(bad)) {
      const bytes = Buffer.from(wire, 'latin1');
      for (let i = 1; i < bytes.length; i += 3) {
        const ev = run(true, [bytes.subarray(0, i), bytes.subarray(i)]);
        expect(
          ev.filter((e) => e.kind === 'error').map((e) => e.value),
          `${expected} split at ${i}`,
        ).toEqual([expected]);
        expect(ev.some((e) => e.kind === 'complete')).toBe(false);
      }
    }
  });

  it('judges start lines and Content-Length by their characters, and lower-cases any name', () => {
    const cases: Array<[boolean, string, string]> = [
      [true, 'GET / HTTP/1.2\r\nhost: x\r\n\r\n', '400 http1.invalid_version'],
      [true, 'GET / HTTP/1.10\r\nhost: x\r\n\r\n', '400 http1.invalid_version'],
      [true, 'GET / http/1.1\r\nhost: x\r\n\r\n', '400 http1.invalid_version'],
      [true, 'G@T / HTTP/1.1\r\nhost: x\r\n\r\n', '400 http1.invalid_request_line'],
      [true, 'GET /a#b HTTP/1.1\r\nhost: x\r\n\r\n', '400 http1.invalid_url'],
      [true, 'POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n', '400 http1.invalid_content_length'],
      [true, 'POST / HTTP/1.1\r\ncontent-length: \r\n\r\n', '400 http1.invalid_content_length'],
      [true, 'POST / HTTP/1.1\r\ncontent-length: 1234567890123456\r\n\r\n', '400 http1.invalid_content_length'],
      [false, 'HTTP/1.2 200 OK\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_status_line'],
      [false, 'HTTP/1.1 20x OK\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_status_line'],
      [false, 'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_status_line'],
      [false, 'HTTP/1.1 200\r\nx\x02y: 1\r\n\r\n', '502 http1.invalid_header_name'],
    ];
    expectHeadErrors(cases);
    // Known names in any case, unknown ones, custom methods and a bare status line.
    expect(
      run(true, [Buffer.from('PURGE /x HTTP/1.0\r\nHOST: a\r\nX-My-Header: b\r\nContent-LENGTH: 0\r\n\r\n')]),
    ).toEqual([
      { kind: 'head', value: 'PURGE/x0 host,x-my-header,content-length=a,b,0 cl=0 chunked=false' },
      { kind: 'complete', value: '' },
    ]);
    expect(run(false, [Buffer.from('HTTP/1.0 204\r\nServer: n\r\n\r\n')])).toEqual([
      { kind: 'head', value: '204 server=n cl=-1 chunked=false' },
      { kind: 'complete', value: '' },
    ]);
  });

  it('refuses bare CR/LF and control characters anywhere in a head, requests and responses alike', () => {
    const cases: Array<[boolean, string, string]> = [
      [true, 'GET / HTTP/1.1\r\nhost: x\r\nx: a\nb\r\n\r\n', '400 http1.invalid_characters'],
      [true, 'GET / HTTP/1.1\r\nhost: x\r\nx: a\x7fb\r\n\r\n', '400 http1.invalid_characters'],
      [true, 'GET / HTTP/1.1\r\nhost: x\r\nx: a\x00\r\n\r\n', '400 http1.invalid_characters'],
      [true, 'GET / HTTP/1.1\r\nhost: x\n\r\n\r\n', '400 http1.invalid_characters'],
      [true, 'GET / HTTP/1.1\r\nhost: x\r\n\nx: y\r\n\r\n', '400 http1.invalid_header_name'],
      [true, 'GET /a\x01 HTTP/1.1\r\nhost: x\r\n\r\n', '400 http1.invalid_request_line'],
      [true, 'GET / HTTP/1.1\rhost: x\r\n\r\n', '400 http1.invalid_request_line'],
      [false, 'HTTP/1.1 200 O\x01K\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_characters'],
      [false, 'HTTP/1.1 200 OK\r\nx: a\rb\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_characters'],
      [false, 'HTTP/1.1 200 OK\r\nx\x02y: 1\r\ncontent-length: 0\r\n\r\n', '502 http1.invalid_header_name'],
    ];
    expectHeadErrors(cases);
    // HTAB and obs-text (bytes above 0x7f) are allowed in values.
    const ok = run(true, [Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nx: a\tb \xe9\r\n\r\n', 'latin1')]);
    expect(ok.map((e) => e.kind)).toEqual(['head', 'complete']);
  });

  it('reads field names and values the same whichever way a head is scanned, and refuses a head by its first bad line', () => {
    // Known names in any case become their lower-case constant, others are lower-cased; values are
    // trimmed of spaces and tabs; an empty value stays a field.
    expect(
      run(false, [
        Buffer.from(
          'HTTP/1.1 200 OK\r\nContent-TYPE:  text/plain \t\r\nX-Custom-Thing:\tv1\r\nx-empty:\r\nCONTENT-LENGTH: 2\r\n\r\nok',
        ),
      ]),
    ).toEqual([
      {
        kind: 'head',
        value: '200 content-type,x-custom-thing,x-empty,content-length=text/plain,v1,,2 cl=2 chunked=false',
      },
      { kind: 'body', value: 'ok' },
      { kind: 'complete', value: '' },
    ]);
    const cases: Array<[boolean, string, string]> = [
      [true, 'GET / HTTP/1.1\r\nhost: x\r\ncontent-length: x\r\ny: a\x01\r\n\r\n', '400 http1.invalid_content_length'],
      [true, 'GET / HTTP/1.1\r\nhost: x\r\ny: a\x01\r\ncontent-length: x\r\n\r\n', '400 http1.invalid_characters'],
      [
        true,
        'GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nab',
        '400 http1.multiple_content_length',
      ],
      [false, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nx y: 1\r\n\r\n', '502 http1.invalid_transfer_encoding'],
      [false, 'HTTP/1.1 200 OK\r\nx: 1\r\ny 2\r\n\r\n', '502 http1.invalid_header_line'],
      [false, 'HTTP/1.1 200 OK\r\nx: 1\r\n: 2\r\n\r\n', '502 http1.invalid_header_name'],
    ];
    expectHeadErrors(cases);
  });

  it('enforces header size and count limits', () => {
    const big = run(true, [Buffer.from(`GET / HTTP/1.1\r\nhost: x\r\nx: ${'a'.repeat(9000)}\r\n\r\n`)]);
    expect(big.at(-1)).toEqual({ kind: 'error', value: '431 http1.headers_too_large' });
    const many = run(true, [
      Buffer.from(`GET / HTTP/1.1\r\n${Array.from({ length: 51 }, (_, i) => `h${i}: v\r\n`).join('')}\r\n`),
    ]);
    expect(many.at(-1)).toEqual({ kind: 'error', value: '431 http1.too_many_headers' });
    const atLimit = run(true, [
      Buffer.from(`GET / HTTP/1.1\r\n${Array.from({ length: 50 }, (_, i) => `h${i}: v\r\n`).join('')}\r\n`),
    ]);
    expect(atLimit.map((e) => e.kind)).toEqual(['head', 'complete']);
  });
});
