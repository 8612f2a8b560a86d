// Per-stream half of envoy.filters.http.ext_authz: holds the request (and, with
// with_request_body, its body up to max_request_bytes) while the authorization service decides.
// Allowed: its header edits go on the request upstream and on the response downstream. Denied:
// the service's status, headers and body go to the client, flagged UAEX (`ext_authz_denied`).
// Failed: failure_mode_allow lets the request through (counted), else status_on_error (403).
import {
  FilterDataStatus,
  FilterHeadersStatus,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
  type StreamFilterCallbacks,
} from '../../../../core/http/filter.js';
import type { HeaderMap } from '../../../../core/http/headers.js';
import { ResponseFlag } from '../../../../core/stream-info.js';
import type { Counter, Scope } from '../../../../stats/types.js';
import type { AuthzClient, AuthzResult, HeaderEdit } from './check.js';
import type { BufferSettings, ExtAuthzConfig } from './config.js';

export class ExtAuthzStats {
  readonly ok: Counter;
  readonly denied: Counter;
  readonly error: Counter;
  readonly disabled: Counter;
  readonly failureModeAllowed: Counter;
  constructor(scope: Scope) {
    this.ok = scope.counter('ok');
    this.denied = scope.counter('denied');
    this.error = scope.counter('error');
    this.disabled = scope.counter('disabled');
    this.failureModeAllowed = scope.counter('failure_mode_allowed');
  }
}

/** The filter's shared, immutable part. */
export interface ExtAuthzShared {
  readonly client: AuthzClient;
  readonly stats: ExtAuthzStats;
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  readonly statusOnError: number;
  readonly clearRouteCache: boolean;
  readonly withRequestBody: BufferSettings | undefined;
}

/** What a route says about this stream: skip the check, or check with these settings. */
export type RouteSettings =
  | { readonly disabled: true }
  | {
      readonly disabled: false;
      readonly contextExtensions: Readonly<Record<string, string>>;
      readonly withRequestBody: BufferSettings | undefined;
    };

export function sharedConfig(config: ExtAuthzConfig, client: AuthzClient, stats: ExtAuthzStats): ExtAuthzShared {
  return {
    client,
    stats,
    failureModeAllow: config.failure_mode_allow,
    failureModeAllowHeaderAdd: config.failure_mode_allow_header_add,
    statusOnError: config.status_on_error?.code ?? 403,
    clearRouteCache: config.clear_route_cache,
    withRequestBody: config.with_request_body,
  };
}

type State = 'idle' | 'buffering' | 'calling' | 'done';

function applyEdits(headers: HeaderMap, edits: readonly HeaderEdit[]): void {
  for (const e of edits) {
    if (e.append && headers.has(e.key)) headers.add(e.key, e.value);
    else headers.set(e.key, e.value);
  }
}

export class ExtAuthzFilter implements StreamFilter, StreamDecoderFilter, StreamEncoderFilter {
  readonly decoder = this;
  readonly encoder = this;
  readonly #cb: StreamFilterCallbacks;
  readonly #shared: ExtAuthzShared;
  readonly #route: (cb: StreamFilterCallbacks) => RouteSettings;
  #state: State = 'idle';
  #settings: RouteSettings | null = null;
  #body: Buffer[] = [];
  #bodyBytes = 0;
  #cancel: (() => void) | null = null;
  /** True while decodeHeaders runs: a verdict that arrives then continues by returning, not by continueDecoding. */
  #inHeaders = false;
  #stopped = false;
  #responseHeaders: readonly HeaderEdit[] = [];

  constructor(cb: StreamFilterCallbacks, shared: ExtAuthzShared, route: (cb: StreamFilterCallbacks) => RouteSettings) {
    this.#cb = cb;
    this.#shared = shared;
    this.#route = route;
  }

  decodeHeaders(_headers: HeaderMap, endStream: boolean): FilterHeadersStatus {
    const settings = this.#route(this.#cb);
    this.#settings = settings;
    if (settings.disabled) {
      this.#shared.stats.disabled.inc();
      this.#state = 'done';
      return FilterHeadersStatus.Continue;
    }
    if (settings.withRequestBody !== undefined && !endStream) {
      this.#state = 'buffering';
      this.#stopped = true;
      return FilterHeadersStatus.StopIteration;
    }
    this.#inHeaders = true;
    this.#call(null);
    this.#inHeaders = false;
    if (this.#state === 'done' && !this.#stopped) return FilterHeadersStatus.Continue;
    this.#stopped = true;
    return FilterHeadersStatus.StopIteration;
  }

  onBufferedData(data: Buffer, endStream: boolean): void {
    if (this.#state !== 'buffering' || this.#settings === null || this.#settings.disabled) return;
    const limits = this.#settings.withRequestBody!;
    const room = limits.max_request_bytes - this.#bodyBytes;
    if (data.length > room && !limits.allow_partial_message) {
      this.#state = 'done';
      this.#cb.sendLocalReply(413, 'Payload Too Large', 0, 'request_payload_too_large');
      return;
    }
    const kept = data.length > room ? data.subarray(0, room) : data;
    if (kept.length > 0) {
      this.#body.push(Buffer.from(kept));
      this.#bodyBytes += kept.length;
    }
    if (endStream || this.#bodyBytes >= limits.max_request_bytes) {
      this.#call(this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body));
      this.#body = [];
    }
  }

  #call(body: Buffer | null): void {
    const settings = this.#settings;
    if (settings === null || settings.disabled) return;
    this.#state = 'calling';
    const cancel = this.#shared.client.check(
      {
        headers: this.#cb.requestHeaders,
        info: this.#cb.streamInfo,
        body,
        contextExtensions: settings.contextExtensions,
      },
      (result) => this.#onResult(result),
    );
    if (this.#state === 'calling') this.#cancel = cancel;
  }

  #onResult(result: AuthzResult): void {
    this.#cancel = null;
    this.#state = 'done';
    const shared = this.#shared;
    const cb = this.#cb;
    if (result.kind === 'denied') {
      shared.stats.denied.inc();
      this.#stopped = true;
      const headers = result.headers;
      cb.sendLocalReply(result.status, result.body, ResponseFlag.UnauthorizedExternalService, 'ext_authz_denied', (h) =>
        applyEdits(h, headers),
      );
      return;
    }
    if (result.kind === 'error') {
      shared.stats.error.inc();
      if (!shared.failureModeAllow) {
        this.#stopped = true;
        cb.sendLocalReply(shared.statusOnError, '', ResponseFlag.UnauthorizedExternalService, 'ext_authz_error');
        return;
      }
      shared.stats.failureModeAllowed.inc();
      if (shared.failureModeAllowHeaderAdd) cb.requestHeaders.set('x-envoy-auth-failure-mode-allowed', 'true');
      return this.#resume();
    }
    shared.stats.ok.inc();
    const request = cb.requestHeaders;
    for (const name of result.upstreamHeadersToRemove) {
      // Pseudo-headers and Host are the request itself: the service cannot remove them.
      if (!name.startsWith(':') && name !== 'host') request.remove(name);
    }
    applyEdits(request, result.upstreamHeaders);
    this.#responseHeaders = result.responseHeaders;
    if (shared.clearRouteCache && (result.upstreamHeaders.length > 0 || result.upstreamHeadersToRemove.length > 0))
      cb.clearRouteCache();
    this.#resume();
  }

  #resume(): void {
    if (this.#inHeaders) return; // decodeHeaders returns Continue
    this.#stopped = false;
    this.#cb.continueDecoding();
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeHeaders(headers: HeaderMap): FilterHeadersStatus {
    if (this.#responseHeaders.length > 0) applyEdits(headers, this.#responseHeaders);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onDestroy(): void {
    const cancel = this.#cancel;
    this.#cancel = null;
    cancel?.();
  }
}
