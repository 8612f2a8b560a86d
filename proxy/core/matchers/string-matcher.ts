// Envoy's StringMatcher and RegexMatcher compiled once into predicates (routes, RBAC, TLS SAN
// matchers). A leaf: imports only the API's types.
import type { RegexMatcher, StringMatcher } from '../../api/string-matcher.js';

export function compileRegex(m: RegexMatcher, flags = ''): RegExp {
  return new RegExp(`^(?:${m.regex})$`, flags);
}

export type StringPredicate = (value: string) => boolean;

export function compileStringMatcher(m: StringMatcher): StringPredicate {
  const ic = m.ignore_case === true;
  if (m.safe_regex !== undefined) {
    const re = compileRegex(m.safe_regex);
    return (v) => re.test(v);
  }
  if (m.exact !== undefined) {
    const e = ic ? m.exact.toLowerCase() : m.exact;
    return ic ? (v) => v.toLowerCase() === e : (v) => v === e;
  }
  if (m.prefix !== undefined) {
    const p = ic ? m.prefix.toLowerCase() : m.prefix;
    return ic ? (v) => v.toLowerCase().startsWith(p) : (v) => v.startsWith(p);
  }
  if (m.suffix !== undefined) {
    const s = ic ? m.suffix.toLowerCase() : m.suffix;
    return ic ? (v) => v.toLowerCase().endsWith(s) : (v) => v.endsWith(s);
  }
  const c = ic ? m.contains!.toLowerCase() : m.contains!;
  return ic ? (v) => v.toLowerCase().includes(c) : (v) => v.includes(c);
}
