// envoy.filters.listener.http_inspector: tells HTTP/1.x from HTTP/2 with prior knowledge (h2c)
// by the first bytes of a plaintext connection and sets the application protocol
// (`http/1.1`, `http/1.0` or `h2c`) that `filter_chain_match.application_protocols` reads.
// A connection tls_inspector found to be TLS is left alone. Stats under `http_inspector.`.
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { type ListenerFilter, registries } from '../../../../core/extension-points.js';

export const HTTP_INSPECTOR_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';

/** How far to look for the end of the request line before calling it "not HTTP". */
const MAX_INSPECT_BYTES = 8 * 1024;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const REQUEST_LINE = /^[A-Z][A-Z_-]* [^\s]+ HTTP\/1\.([01])$/;
/** `METHOD`, `METHOD target` or `METHOD target <version so far>`, before the CRLF arrived. */
const REQUEST_LINE_PREFIX = /^[A-Z][A-Z_-]*(?: [^\s]*(?: ([^\s]*))?)?$/;

function couldBeRequestLine(line: string): boolean {
  const m = REQUEST_LINE_PREFIX.exec(line);
  if (m === null) return false;
  const version = m[1];
  return version === undefined || 'HTTP/1.1'.startsWith(version) || 'HTTP/1.0'.startsWith(version);
}

const httpInspectorSchema = z.object({ '@type': z.literal(HTTP_INSPECTOR_TYPE_URL).optional() }).strict();

export type HttpDetection = 'http/1.1' | 'http/1.0' | 'h2c' | 'not_http' | 'need_more_data';

/** Classifies the first bytes of a plaintext connection. */
export function detectHttp(data: Buffer): HttpDetection {
  const n = Math.min(data.length, H2_PREFACE.length);
  if (data.subarray(0, n).equals(H2_PREFACE.subarray(0, n)))
    return data.length >= H2_PREFACE.length ? 'h2c' : 'need_more_data';
  const end = data.indexOf('\r\n');
  const line = data.toString('latin1', 0, end === -1 ? Math.min(data.length, MAX_INSPECT_BYTES) : end);
  if (end !== -1) {
    const m = REQUEST_LINE.exec(line);
    return m === null ? 'not_http' : m[1] === '1' ? 'http/1.1' : 'http/1.0';
  }
  // The CR of the CRLF may have arrived alone.
  const head = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (data.length >= MAX_INSPECT_BYTES || !couldBeRequestLine(head)) return 'not_http';
  return 'need_more_data';
}

registries.listenerFilters.register(
  defineExtension({
    name: 'envoy.filters.listener.http_inspector',
    typeUrls: [HTTP_INSPECTOR_TYPE_URL],
    configSchema: httpInspectorSchema,
    create(_config, context): ListenerFilter {
      const scope = context.stats.scope('http_inspector');
      const found = {
        'http/1.0': scope.counter('http10_found'),
        'http/1.1': scope.counter('http11_found'),
        h2c: scope.counter('http2_found'),
      };
      const notFound = scope.counter('http_not_found');
      return {
        maxReadBytes: MAX_INSPECT_BYTES,
        onData(data, socket, ended) {
          const transport = socket.detectedTransportProtocol;
          if (transport !== '' && transport !== 'raw_buffer') return 'continue';
          const detected = detectHttp(data);
          if (detected === 'need_more_data' && !ended) return 'need_more_data';
          if (detected === 'need_more_data' || detected === 'not_http') {
            notFound.inc();
            return 'continue';
          }
          found[detected].inc();
          socket.requestedApplicationProtocols = [detected];
          return 'continue';
        },
      };
    },
  }),
);
