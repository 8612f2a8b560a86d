// A route of the query API: a path pattern, a handler answering [status, JSON body], and how
// that API family shapes its errors (Jaeger's v1 envelope, v3's gateway error, or meshscope's).

import { QueryParamError } from '../errors.js';

export type Handler = (q: URLSearchParams, match: RegExpMatchArray) => Promise<[number, unknown]>;

export interface Route {
  readonly pattern: RegExp;
  readonly handle: Handler;
  /** The answer for a thrown error: bad parameters (QueryParamError) or a failed query. */
  readonly fail: (err: unknown) => [number, unknown];
}

/** The decoded path segment a pattern captured (1-based); a malformed escape is the client's error. */
export function segment(m: RegExpMatchArray, i: number): string {
  try {
    return decodeURIComponent(m[i]!);
  } catch {
    throw new QueryParamError(`malformed percent-encoding in the path: '${m[i]!.slice(0, 64)}'`);
  }
}
