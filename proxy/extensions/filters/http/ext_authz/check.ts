// What ext_authz asks an authorization service and what it hears back, independent of the
// transport (HTTP or gRPC): the request's attributes (Envoy's CheckRequest, AttributeContext)
// and the verdict (ok with header edits, denied with the response to send, or error).
import { compileStringMatcher } from '../../../../core/router/route-table.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import type { StreamInfo } from '../../../../core/stream-info.js';
import type { ListStringMatcher } from './config.js';

export interface CheckInput {
  readonly headers: HeaderMap;
  readonly info: StreamInfo;
  /** The buffered request body when with_request_body asked for it, else null. */
  readonly body: Buffer | null;
  readonly contextExtensions: Readonly<Record<string, string>>;
}

export interface HeaderEdit {
  readonly key: string;
  readonly value: string;
  /** Append to an existing header instead of replacing it. */
  readonly append: boolean;
}

export type AuthzResult =
  | {
      readonly kind: 'ok';
      /** Set on (or appended to) the request sent upstream. */
      readonly upstreamHeaders: readonly HeaderEdit[];
      readonly upstreamHeadersToRemove: readonly string[];
      /** Added to the response the client gets. */
      readonly responseHeaders: readonly HeaderEdit[];
    }
  | {
      readonly kind: 'denied';
      readonly status: number;
      readonly headers: readonly HeaderEdit[];
      readonly body: string;
    }
  | { readonly kind: 'error'; readonly reason: string };

/** A client of one authorization service; `check` answers once unless cancelled. */
export interface AuthzClient {
  check(input: CheckInput, done: (result: AuthzResult) => void): () => void;
}

export type NamePredicate = (lowerCaseName: string) => boolean;

/** A ListStringMatcher over header names (Envoy matches them lower-cased, case-insensitively). */
export function compileNameList(list: ListStringMatcher | undefined): NamePredicate | null {
  if (list === undefined) return null;
  const tests = list.patterns.map((p) => compileStringMatcher({ ...p, ignore_case: true }));
  return (name) => tests.some((t) => t(name));
}

/** The request's headers as the check request carries them: one entry per name, values joined by ','. */
export function selectHeaders(
  headers: HeaderMap,
  allowed: NamePredicate | null,
  disallowed: NamePredicate | null,
): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < headers.names.length; i++) {
    const name = headers.names[i]!;
    if (allowed !== null && !allowed(name)) continue;
    if (disallowed?.(name) === true) continue;
    const prior = out.get(name);
    out.set(name, prior === undefined ? headers.values[i]! : `${prior},${headers.values[i]!}`);
  }
  return out;
}
