// The syntax of header values in route configs: literal text with Envoy command operators
// (`%DOWNSTREAM_REMOTE_ADDRESS%`, `%REQ(x-user)%`, `%%` for a literal percent sign). Parsed
// here, at validation, so an unknown operator is a config error with the field's path; the
// core (proxy/core/http/header-format.ts) turns each operator into a function once, at load.

/** The operators meshscope implements, by Envoy name. */
export const HEADER_VALUE_OPERATORS = new Set([
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_PORT',
  'PROTOCOL',
  'UPSTREAM_REMOTE_ADDRESS',
  'UPSTREAM_CLUSTER',
  'START_TIME',
  'REQ',
]);

/** Operators that need an argument: `%REQ(header-name)%`. */
const NEEDS_ARGUMENT = new Set(['REQ']);

export type HeaderFormatToken = string | { readonly operator: string; readonly argument: string | undefined };

const OPERATOR = /%([A-Z_]+)(?:\(([^)]*)\))?%/g;

/** Splits a header value into literal text and operators; returns an error message for an unknown one. */
export function parseHeaderFormat(value: string): HeaderFormatToken[] | string {
  if (!value.includes('%')) return [value];
  const tokens: HeaderFormatToken[] = [];
  let last = 0;
  const escaped = value.replaceAll('%%', '\u0000');
  for (const m of escaped.matchAll(OPERATOR)) {
    const operator = m[1]!;
    const argument = m[2];
    if (!HEADER_VALUE_OPERATORS.has(operator) || (NEEDS_ARGUMENT.has(operator) && (argument ?? '') === ''))
      return `unsupported header value operator '${m[0]}'`;
    if (m.index > last) tokens.push(escaped.slice(last, m.index).replaceAll('\u0000', '%'));
    tokens.push({ operator, argument });
    last = m.index + m[0].length;
  }
  if (last < escaped.length) tokens.push(escaped.slice(last).replaceAll('\u0000', '%'));
  return tokens;
}
