// Header values in route configs may carry Envoy command operators (`%DOWNSTREAM_REMOTE_ADDRESS%`).
// Each value is compiled once at load into literal text or a list of parts; the syntax (and the
// error for an unknown operator, with the field's path) is the API's: proxy/api/header-format.ts.
import { parseHeaderFormat } from '../../api/header-format.js';
import type { StreamInfo } from '../stream-info.js';

export type FormatPart = string | ((info: StreamInfo) => string);

function operator(name: string, arg: string | undefined): ((info: StreamInfo) => string) | string | null {
  switch (name) {
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (i) => `${i.downstreamRemoteAddress}:${i.downstreamRemotePort}`;
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (i) => i.downstreamRemoteAddress;
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS':
      return (i) => `${i.downstreamDirectRemoteAddress}:${i.downstreamRemotePort}`;
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      return (i) => i.downstreamDirectRemoteAddress;
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return (i) => `${i.downstreamLocalAddress}:${i.downstreamLocalPort}`;
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (i) => i.downstreamLocalAddress;
    case 'DOWNSTREAM_LOCAL_PORT':
      return (i) => String(i.downstreamLocalPort);
    case 'PROTOCOL':
      return (i) => i.protocol;
    case 'UPSTREAM_REMOTE_ADDRESS':
      return (i) => i.upstreamHost ?? '';
    case 'UPSTREAM_CLUSTER':
      return (i) => i.upstreamCluster ?? '';
    case 'START_TIME':
      return (i) => new Date(i.startTime).toISOString();
    case 'REQ': {
      if (arg === undefined || arg === '') return null;
      const header = arg.toLowerCase();
      return (i) => i.requestHeaders?.get(header) ?? '';
    }
    default:
      return null;
  }
}

/** Compiles a header value; returns an error message for unknown operators. */
export function compileHeaderFormat(value: string): FormatPart[] | string {
  const tokens = parseHeaderFormat(value);
  if (typeof tokens === 'string') return tokens;
  const parts: FormatPart[] = [];
  for (const t of tokens) {
    if (typeof t === 'string') {
      parts.push(t);
      continue;
    }
    const op = operator(t.operator, t.argument);
    if (op === null) return `unsupported header value operator '%${t.operator}%'`;
    parts.push(op);
  }
  return parts;
}

export function renderHeaderFormat(parts: readonly FormatPart[], info: StreamInfo): string {
  if (parts.length === 1 && typeof parts[0] === 'string') return parts[0];
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : p(info);
  return out;
}
