// Chooses a connection's filter chain by `filter_chain_match`, in Envoy's order of precedence:
// destination port, destination IP (prefix_ranges), server name (SNI), transport protocol,
// application protocols (ALPN), direct source IP, source type, source IP, source port. At each
// step only the chains with the most specific value matching the connection go on (an exact
// port before no port, the longest prefix, `www.example.com` before `*.example.com` before
// `*.com` before no server_names, …); a chain without that criterion is the least specific.
// When no chain is left the connection gets `default_filter_chain`, or is closed.
//
// Compiled once per listener into a tree with one level per criterion; levels no chain uses
// are skipped at build time, so a listener with one unconditional chain looks it up in one step
// and reads no socket address it does not need.
import type { Socket } from 'node:net';
import { type Cidr, cidrContains, type IpAddress, parseCidr, parseIp } from '../../api/cidr.js';
import { type FilterChainMatchConfig, prefixLenOf } from '../../api/filter-chain-match.js';

/** What listener filters learned of the connection (the socket's addresses are read only when a level needs them). */
export interface InspectedConnection {
  readonly detectedTransportProtocol: string;
  readonly requestedServerName: string;
  readonly requestedApplicationProtocols: readonly string[];
}

type Level =
  | 'destination_port'
  | 'prefix_ranges'
  | 'server_names'
  | 'transport_protocol'
  | 'application_protocols'
  | 'direct_source_prefix_ranges'
  | 'source_type'
  | 'source_prefix_ranges'
  | 'source_ports';

const LEVELS: readonly Level[] = [
  'destination_port',
  'prefix_ranges',
  'server_names',
  'transport_protocol',
  'application_protocols',
  'direct_source_prefix_ranges',
  'source_type',
  'source_prefix_ranges',
  'source_ports',
];

type Node<T> =
  | { readonly kind: 'leaf'; readonly chain: T }
  | { readonly kind: 'none' }
  | {
      readonly kind: 'keyed';
      readonly level: Level;
      readonly byKey: ReadonlyMap<string, Node<T>>;
      readonly any: Node<T>;
    }
  | {
      readonly kind: 'cidr';
      readonly level: Level;
      /** Longest prefix first, so the first range containing the address is the most specific. */
      readonly ranges: ReadonlyArray<{ readonly cidr: Cidr; readonly node: Node<T> }>;
      readonly any: Node<T>;
    };

const NONE = { kind: 'none' } as const;

interface Entry<T> {
  readonly chain: T;
  readonly match: FilterChainMatchConfig | undefined;
}

export class FilterChainMatcher<T> {
  readonly #root: Node<T>;
  readonly #default: T | null;

  /** `chains` in config order (on equal rules the first wins; the schema refuses such duplicates). */
  constructor(chains: ReadonlyArray<{ chain: T; match: FilterChainMatchConfig | undefined }>, defaultChain: T | null) {
    this.#root = build(chains, 0);
    this.#default = defaultChain;
  }

  /** The connection's filter chain, or null when none matches and there is no default chain. */
  select(socket: Socket, input: InspectedConnection): T | null {
    let node: Node<T> = this.#root;
    if (node.kind === 'leaf') return node.chain;
    const lazy = new LazyAddresses(socket);
    for (;;) {
      switch (node.kind) {
        case 'leaf':
          return node.chain;
        case 'none':
          return this.#default;
        case 'keyed':
          node = lookupKeyed(node, socket, input, lazy);
          break;
        case 'cidr':
          node = lookupCidr(node, lazy);
          break;
      }
    }
  }
}

function lookupCidr<T>(node: Extract<Node<T>, { kind: 'cidr' }>, lazy: LazyAddresses): Node<T> {
  const ip = node.level === 'prefix_ranges' ? lazy.local() : lazy.remote();
  if (ip === null) return node.any;
  for (const r of node.ranges) if (cidrContains(r.cidr, ip)) return r.node;
  return node.any;
}

function lookupKeyed<T>(
  node: Extract<Node<T>, { kind: 'keyed' }>,
  socket: Socket,
  input: InspectedConnection,
  lazy: LazyAddresses,
): Node<T> {
  const { byKey, any } = node;
  switch (node.level) {
    case 'destination_port':
      return byKey.get(String(socket.localPort ?? 0)) ?? any;
    case 'source_ports':
      return byKey.get(String(socket.remotePort ?? 0)) ?? any;
    case 'transport_protocol':
      return byKey.get(input.detectedTransportProtocol || 'raw_buffer') ?? any;
    case 'server_names': {
      const name = input.requestedServerName;
      if (name === '') return any;
      const exact = byKey.get(name);
      if (exact !== undefined) return exact;
      // `a.b.example.com` tries `*.b.example.com`, `*.example.com`, `*.com`.
      for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
        const wildcard = byKey.get(`*${name.slice(dot)}`);
        if (wildcard !== undefined) return wildcard;
      }
      return any;
    }
    case 'application_protocols':
      for (const p of input.requestedApplicationProtocols) {
        const hit = byKey.get(p);
        if (hit !== undefined) return hit;
      }
      return any;
    case 'source_type': {
      const remote = lazy.remote();
      const local = lazy.local();
      const sameOrLoopback =
        remote !== null &&
        (isLoopback(remote) || (local !== null && local.family === remote.family && local.value === remote.value));
      return byKey.get(sameOrLoopback ? 'SAME_IP_OR_LOOPBACK' : 'EXTERNAL') ?? any;
    }
    default:
      return any;
  }
}

function isLoopback(ip: IpAddress): boolean {
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

/** Socket addresses are syscalls (getsockname/getpeername): read each once, only if needed. */
class LazyAddresses {
  readonly #socket: Socket;
  #local: IpAddress | null | undefined;
  #remote: IpAddress | null | undefined;
  constructor(socket: Socket) {
    this.#socket = socket;
  }
  local(): IpAddress | null {
    if (this.#local === undefined) this.#local = parseIp(this.#socket.localAddress ?? '');
    return this.#local;
  }
  remote(): IpAddress | null {
    if (this.#remote === undefined) this.#remote = parseIp(this.#socket.remoteAddress ?? '');
    return this.#remote;
  }
}

function build<T>(entries: ReadonlyArray<Entry<T>>, levelIndex: number): Node<T> {
  if (entries.length === 0) return NONE;
  if (levelIndex === LEVELS.length) return { kind: 'leaf', chain: entries[0]!.chain };
  const level = LEVELS[levelIndex]!;
  const generic: Entry<T>[] = [];
  const specific = new Map<string, Entry<T>[]>();
  const cidrs = new Map<string, { cidr: Cidr; entries: Entry<T>[] }>();
  for (const e of entries) {
    const keys = keysOf(e.match, level);
    if (keys === null) {
      generic.push(e);
      continue;
    }
    for (const key of keys) {
      if (typeof key === 'string') {
        let bucket = specific.get(key);
        if (bucket === undefined) specific.set(key, (bucket = []));
        if (!bucket.includes(e)) bucket.push(e);
      } else {
        const k = `${key.family}/${key.network}/${key.prefixLen}`;
        let bucket = cidrs.get(k);
        if (bucket === undefined) cidrs.set(k, (bucket = { cidr: key, entries: [] }));
        if (!bucket.entries.includes(e)) bucket.entries.push(e);
      }
    }
  }
  const any = build(generic, levelIndex + 1);
  // A criterion no chain sets costs nothing per connection.
  if (specific.size === 0 && cidrs.size === 0) return any;
  if (cidrs.size > 0) {
    const ranges = [...cidrs.values()]
      .sort((a, b) => b.cidr.prefixLen - a.cidr.prefixLen)
      .map((r) => ({ cidr: r.cidr, node: build(r.entries, levelIndex + 1) }));
    return { kind: 'cidr', level, ranges, any };
  }
  const byKey = new Map<string, Node<T>>();
  for (const [key, bucket] of specific) byKey.set(key, build(bucket, levelIndex + 1));
  return { kind: 'keyed', level, byKey, any };
}

/** The chain's values for one criterion; null when it does not set it (matches anything). */
function keysOf(m: FilterChainMatchConfig | undefined, level: Level): Array<string | Cidr> | null {
  if (m === undefined) return null;
  const nonEmpty = <V>(list: readonly V[] | undefined): readonly V[] | null =>
    list === undefined || list.length === 0 ? null : list;
  switch (level) {
    case 'destination_port': {
      const p = m.destination_port;
      return p === undefined ? null : [String(typeof p === 'number' ? p : p.value)];
    }
    case 'source_ports':
      return nonEmpty(m.source_ports)?.map(String) ?? null;
    case 'transport_protocol':
      return m.transport_protocol === undefined || m.transport_protocol === '' ? null : [m.transport_protocol];
    case 'server_names':
      return nonEmpty(m.server_names)?.map((n) => n.toLowerCase()) ?? null;
    case 'application_protocols':
      return nonEmpty(m.application_protocols)?.slice() ?? null;
    case 'source_type':
      return m.source_type === undefined || m.source_type === 'ANY' ? null : [m.source_type];
    case 'prefix_ranges':
    case 'direct_source_prefix_ranges':
    case 'source_prefix_ranges': {
      const list = nonEmpty(m[level]);
      if (list === null) return null;
      // Validated at load, so every range parses.
      return list.map((r) => parseCidr(r.address_prefix, prefixLenOf(r)) as Cidr);
    }
  }
}
