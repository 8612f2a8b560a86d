// Envoy's CidrRange (`address_prefix` + `prefix_len`) as numbers: an IPv4 address is a 32-bit
// value, an IPv6 address a 128-bit bigint. Parsed once at load; a connection's address is
// parsed once per connection and tested against each range with one mask and compare.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  readonly family: 4 | 6;
  /** The network address, host bits cleared. */
  readonly network: bigint;
  readonly mask: bigint;
  readonly prefixLen: number;
}

export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** Parses a textual address; IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what dual-stack sockets report) reads as IPv4. */
export function parseIp(text: string): IpAddress | null {
  if (isIPv4(text)) return { family: 4, value: ipv4Value(text) };
  if (!isIPv6(text)) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped !== null) return { family: 4, value: ipv4Value(mapped[1]!) };
  return { family: 6, value: ipv6Value(text) };
}

function ipv4Value(text: string): bigint {
  let v = 0n;
  for (const part of text.split('.')) v = (v << 8n) | BigInt(Number(part));
  return v;
}

function ipv6Value(text: string): bigint {
  let body = text.split('%')[0]!;
  // A trailing dotted quad (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is two 16-bit groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (quad !== null) {
    const v = ipv4Value(quad[1]!);
    body = `${body.slice(0, quad.index)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = body.includes('::') ? body.split('::') : [body, undefined];
  const headGroups = head === '' ? [] : head!.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<string>(zeros).fill('0'), ...tailGroups];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  return v;
}

/** The range, or a message saying what is wrong with it. */
export function parseCidr(addressPrefix: string, prefixLen: number): Cidr | string {
  const ip = parseIp(addressPrefix);
  if (ip === null) return `'${addressPrefix}' is not an IP address`;
  // A mapped IPv4 prefix keeps IPv6 semantics only when written as IPv6 with a /96+ length;
  // Envoy compares families as written, so an IPv6-written prefix stays IPv6.
  const family: 4 | 6 = isIPv4(addressPrefix) ? 4 : 6;
  const value = family === ip.family ? ip.value : ipv6Value(addressPrefix);
  const bits = family === 4 ? 32 : 128;
  if (prefixLen > bits) return `prefix_len ${prefixLen} exceeds ${bits} for '${addressPrefix}'`;
  const m = mask(bits, prefixLen);
  return { family, network: value & m, mask: m, prefixLen };
}

function mask(bits: number, prefixLen: number): bigint {
  if (prefixLen === 0) return 0n;
  const all = (1n << BigInt(bits)) - 1n;
  return all ^ ((1n << BigInt(bits - prefixLen)) - 1n);
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && (ip.value & cidr.mask) === cidr.network;
}

/** A canonical text for a range (`10.0.0.0/8`), equal for ranges that cover the same addresses. */
export function cidrKey(cidr: Cidr): string {
  return `${cidr.family}:${cidr.network.toString(16)}/${cidr.prefixLen}`;
}
