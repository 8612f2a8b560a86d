// Envoy's FilterChainMatch: the properties of a new connection (set by the network stack and by
// listener filters) a filter chain requires. Validated here, at load; the core compiles the
// listener's chains into a lookup tree (proxy/core/listener/filter-chain-matcher.ts).
import { z } from 'zod';
import { cidrKey, parseCidr } from './cidr.js';
import { numericString, u32 } from './wrappers.js';

const portNumber = z.preprocess(numericString, z.number().int().min(1).max(65535));

export const cidrRangeSchema = z
  .object({
    address_prefix: z.string().min(1),
    prefix_len: z.union([u32, z.object({ value: u32 }).strict()]).optional(),
  })
  .strict()
  .superRefine((range, ctx) => {
    const parsed = parseCidr(range.address_prefix, prefixLenOf(range));
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  });
export type CidrRangeConfig = z.output<typeof cidrRangeSchema>;

export function prefixLenOf(range: CidrRangeConfig): number {
  const p = range.prefix_len;
  return p === undefined ? 0 : typeof p === 'number' ? p : p.value;
}

/** `example.com` or `*.example.com`; Envoy refuses partial wildcards such as `*w.example.com`. */
const serverNameSchema = z
  .string()
  .min(1)
  .refine((name) => !name.includes('*') || (name.startsWith('*.') && !name.slice(1).includes('*')), {
    message: 'partial wildcards are not supported in server_names (only a leading "*.")',
  });

export const filterChainMatchSchema = z
  .object({
    destination_port: z.union([portNumber, z.object({ value: portNumber }).strict()]).optional(),
    prefix_ranges: z.array(cidrRangeSchema).optional(),
    direct_source_prefix_ranges: z.array(cidrRangeSchema).optional(),
    source_type: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.toUpperCase() : v),
        z.enum(['ANY', 'SAME_IP_OR_LOOPBACK', 'EXTERNAL']),
      )
      .optional(),
    source_prefix_ranges: z.array(cidrRangeSchema).optional(),
    source_ports: z.array(portNumber).optional(),
    server_names: z.array(serverNameSchema).optional(),
    transport_protocol: z.string().optional(),
    application_protocols: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type FilterChainMatchConfig = z.output<typeof filterChainMatchSchema>;

/**
 * The values a chain accepts per criterion, in Envoy's order of precedence; `''` stands for
 * "not set" (matches anything, least specific). Two chains whose sets intersect on every
 * criterion would both match some connection with equal specificity: Envoy refuses that.
 */
export function matchKeys(m: FilterChainMatchConfig | undefined): string[][] {
  const port = m?.destination_port;
  const ranges = (list: CidrRangeConfig[] | undefined): string[] =>
    list === undefined || list.length === 0
      ? ['']
      : list.map((r) => {
          const c = parseCidr(r.address_prefix, prefixLenOf(r));
          return typeof c === 'string' ? r.address_prefix : cidrKey(c);
        });
  const list = (values: readonly (string | number)[] | undefined, lower = false): string[] =>
    values === undefined || values.length === 0
      ? ['']
      : values.map((v) => (lower ? String(v).toLowerCase() : String(v)));
  return [
    port === undefined ? [''] : [String(typeof port === 'number' ? port : port.value)],
    ranges(m?.prefix_ranges),
    list(m?.server_names, true),
    [m?.transport_protocol ?? ''],
    list(m?.application_protocols),
    ranges(m?.direct_source_prefix_ranges),
    [m?.source_type === undefined || m.source_type === 'ANY' ? '' : m.source_type],
    ranges(m?.source_prefix_ranges),
    list(m?.source_ports),
  ];
}

/** Index pairs `[earlier, later]` of chains that match the same connections equally well. */
export function duplicateFilterChainMatches(
  matches: ReadonlyArray<FilterChainMatchConfig | undefined>,
): Array<[number, number]> {
  const keys = matches.map(matchKeys);
  const out: Array<[number, number]> = [];
  for (let j = 1; j < keys.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = keys[i]!;
      const b = keys[j]!;
      if (a.every((values, k) => values.some((v) => b[k]!.includes(v)))) {
        out.push([i, j]);
        break;
      }
    }
  }
  return out;
}
