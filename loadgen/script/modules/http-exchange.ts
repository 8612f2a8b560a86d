// One k6/http request and its follow-ups (redirects, digest and NTLM challenges), from the head it
// writes to the samples it emits, settled through a promise of the VU's own realm.
//
// Why not an async function: the script awaits what http.get() returns, and a promise of the
// engine's realm awaited in the VU's realm takes V8's foreign-thenable path (a
// PromiseResolveThenableJob, a `then` call, two more microtasks), and the async function itself
// costs a promise and a resumption. Here the transport's completion callback settles the VU
// realm's promise directly: the script's await is V8's fast path, one microtask.
//
// The response is handled in the transport's callback (Node's I/O callback), so nothing the
// script wrote may run there: a responseCallback that http.expectedStatuses() did not make runs
// from a microtask instead, where the watchdog can end it.
import { types } from 'node:util';
import { parseDuration } from '../../duration.js';
import { IterationInterruptedError } from '../../errors.js';
import { InvalidUrlError, type ParsedTarget } from '../../http/client.js';
import { TracedHead } from '../../http/traced-head.js';
import type { RawResponse } from '../../http/connection.js';
import { setCookieLines } from '../../http/cookies.js';
import { parseHeaders } from '../../http/parser.js';
import { newTraceIds, type TraceIds, traceHeader } from '../../tracing.js';
import { internTags } from '../../metrics/registry.js';
import type { TestContext, VuState } from '../context.js';
import { inMicrotask } from '../event-loop.js';
import { basicAuthLine, type CookieJar, digestAuthLine, formBody, STORE, urlCredentials } from './http-extras.js';
import { ntlmAuthenticateLine, ntlmChallenge, ntlmNegotiateLine } from './ntlm.js';

export type Body = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | null | undefined;

export interface RequestParams {
  /** k6/experimental/tracing: false sends no trace context with this request, true sends it. */
  tracing?: boolean;
  headers?: Record<string, string | number>;
  tags?: Record<string, string | number | boolean>;
  timeout?: string | number;
  responseType?: 'text' | 'binary' | 'none';
  redirects?: number;
  responseCallback?: ((status: number) => boolean) | null;
  cookies?: Record<string, string | { value: string; replace?: boolean }>;
  /** A jar other than the VU's (k6's `jar` param). */
  jar?: CookieJar;
  /** With credentials in the URL: 'basic' (the default) or 'digest'. */
  auth?: 'basic' | 'digest' | 'ntlm';
}

/** What a finished exchange hands the script (k6's Response, built by http.ts). */
export type MakeResponse<R> = (
  raw: RawResponse,
  url: string,
  method: string,
  reqHeaders: Record<string, string>,
  reqBody: string,
  responseType: string,
  duration: number,
) => R;

const noop = (): void => {};
const NO_TRACING = { propagator: 'none', sampling: 0 } as const;

/** Response callbacks made by http.expectedStatuses(): engine code, safe to call from I/O callbacks. */
const OWN_CALLBACKS = new WeakSet<object>();

export function ownResponseCallback(cb: (status: number) => boolean): (status: number) => boolean {
  OWN_CALLBACKS.add(cb);
  return cb;
}

/**
 * The script's params.tags still holds `entries` (name, value, name, value … in Object.keys order).
 * for-in (no array) also walks inherited keys: an object that has any never matches, and is read
 * again each time, as before.
 */
function sameEntries(tags: Readonly<Record<string, unknown>>, entries: readonly string[]): boolean {
  let i = 0;
  for (const k in tags) {
    if (entries[i] !== k || entries[i + 1] !== String(tags[k])) return false;
    i += 2;
  }
  return i === entries.length;
}

function defaultExpected(status: number): boolean {
  return status >= 200 && status < 400;
}

const NO_BODY: { buf: Buffer | null; text: string } = { buf: null, text: '' };

function bodyBuffer(body: Body, headers: Record<string, string>): { buf: Buffer | null; text: string } {
  if (body === null || body === undefined) return NO_BODY;
  if (typeof body === 'string') return { buf: Buffer.from(body, 'utf8'), text: body };
  if (types.isAnyArrayBuffer(body)) return { buf: Buffer.from(body), text: '' };
  if (ArrayBuffer.isView(body)) return { buf: Buffer.from(body.buffer, body.byteOffset, body.byteLength), text: '' };
  // k6 sends a plain object as a form: urlencoded, or multipart when it holds an http.file().
  return formBody(body, headers);
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/** k6's --http-debug: the request and response heads (and bodies with 'full') in the log. */
function httpDebug(
  test: TestContext,
  mode: 'headers' | 'full',
  head: string,
  body: Buffer | null,
  raw: RawResponse,
): void {
  const reqBody = mode === 'full' && body !== null ? body.toString('utf8') : '';
  test.log('info', `Request:\n${head.replace(/\r\n/g, '\n')}${reqBody}`, { source: 'http-debug' });
  if (raw.errorCode !== 0) return;
  const resBody = mode === 'full' && raw.body !== null ? raw.body.toString('utf8') : '';
  const status = `${raw.proto === '' ? 'HTTP/1.1' : raw.proto} ${raw.status} ${raw.statusText}`;
  test.log('info', `Response:\n${status}\n${raw.rawHeaders.replace(/\r\n/g, '\n')}\n${resBody}`, {
    source: 'http-debug',
  });
}

/** The Cookie header: the jar's cookies for the URL, overridden or extended by params.cookies. */
function cookieLine(jar: VuState['cookies'], url: URL, extra: RequestParams['cookies']): string {
  const pairs = new Map<string, string>();
  for (const c of jar.forUrl(url)) if (!pairs.has(c.name)) pairs.set(c.name, c.value);
  if (extra !== undefined) {
    for (const [name, v] of Object.entries(extra)) {
      if (typeof v === 'string') {
        if (!pairs.has(name)) pairs.set(name, v);
      } else if (v.replace === true || !pairs.has(name)) pairs.set(name, v.value);
    }
  }
  if (pairs.size === 0) return '';
  return `Cookie: ${[...pairs].map(([k, v]) => `${k}=${v}`).join('; ')}\r\n`;
}

/**
 * A VU's requester: what requests of one VU share (memoized heads and tag sets, so a loop hitting
 * one URL builds neither per request).
 */
export class HttpRequester<R> {
  readonly test: TestContext;
  readonly vu: VuState;
  readonly makeResponse: MakeResponse<R>;
  readonly userAgentLine: string;
  // The last request's tag set, reused while nothing that feeds it changes: a GET loop then
  // allocates no tag object per request, with or without params.tags (the script's tags object,
  // compared by identity and by the entries it had, as a script may change it between requests).
  lastTags: Record<string, string> | null = null;
  lastBase: unknown = null;
  lastUserTags: object | undefined;
  lastUserEntries: readonly string[] = [];
  lastMethod = '';
  lastUrl = '';
  lastStatus = -1;
  lastOk = false;
  lastName: string | undefined;
  // Request heads without per-request parts, by method then URL, for requests without params
  // (two lookups keyed by strings the script reuses, whose hashes V8 has cached: no key to build).
  readonly heads = new Map<string, Map<string, string>>();
  headCount = 0;
  // The last bodiless request's target and head, for the same method, URL and header lines.
  memoTarget: ParsedTarget | null = null;
  memoHead = '';
  memoUrl = '';
  memoMethod = '';
  memoLines = '';
  memoHost: string | undefined;
  // The whole head of a request with nothing per request appended (no trace context, cookie,
  // challenge answer or body), for the base head above: the same string object every time, so the
  // connection writes the bytes it encoded for it once (Connection.#write) instead of V8
  // flattening a fresh concatenation and Node encoding it on every write.
  fullBase = '';
  fullHead = '';
  // The header lines made of the last params.headers (the script's object, compared by identity
  // and by the entries it had, as for params.tags): a loop passing one params object builds them
  // once, and the same lines string lets the head above be reused too.
  lastHeaders: object | undefined;
  lastHeaderEntries: readonly string[] = [];
  lastHeaderLines = '';
  lastHostOverride: string | undefined;
  // The credentials of the last URL asked about (urlCredentials scans the URL for '@'): a loop
  // hitting one URL checks it once.
  credentialsUrl = '';
  credentials: { user: string; pass: string } | null = null;

  constructor(test: TestContext, vu: VuState, makeResponse: MakeResponse<R>) {
    this.test = test;
    this.vu = vu;
    this.makeResponse = makeResponse;
    this.userAgentLine = test.userAgent === '' ? '' : `User-Agent: ${test.userAgent}\r\n`;
  }

  /** Sends a request; the promise (of the VU's realm) settles with k6's Response or the error. */
  send(
    method: string,
    url: string,
    nameTag: string | undefined,
    body: Body,
    params: RequestParams | undefined,
    exclusive: boolean,
  ): Promise<R> {
    return this.vu.settle(new Exchange(this, method, url, nameTag, body, params, exclusive));
  }
}

/**
 * One request: built when the script calls, started (start(), the SettleJob) inside the VU realm's
 * promise, so that whatever throws while preparing it rejects that promise.
 */
class Exchange<R> {
  readonly #req: HttpRequester<R>;
  readonly #params: RequestParams | undefined;
  readonly #exclusive: boolean;
  readonly #nameTag: string | undefined;
  readonly #reqHeaders: Record<string, string> = {};
  #requestBody: Body;
  // Set by start().
  #resolve: (r: R) => void = noop;
  #reject: (err: unknown) => void = noop;
  #tracing: { propagator: 'w3c' | 'b3' | 'none'; sampling: number } = NO_TRACING;
  #extraLines = '';
  #hostOverride: string | undefined;
  #credentials: { user: string; pass: string } | null = null;
  #ntlm = false;
  #jar: VuState['cookies'] | null = null;
  #text = '';
  #timeoutMs = 60_000;
  #responseType: 'text' | 'binary' | 'none' = 'text';
  /** The Authorization line of the next attempt (digest or NTLM); '' once none is due. */
  #digestLine = '';
  #challenged = false;
  #maxRedirects = 0;
  #url: string;
  #method: string;
  #body: Buffer | null = null;
  // The attempt in flight.
  #target: ParsedTarget | null = null;
  #head: string | TracedHead = '';
  #ids: TraceIds | null = null;
  #sampled = false;
  readonly #onRaw = (raw: RawResponse): void => this.#received(raw);

  constructor(
    req: HttpRequester<R>,
    method: string,
    url: string,
    nameTag: string | undefined,
    body: Body,
    params: RequestParams | undefined,
    exclusive: boolean,
  ) {
    this.#req = req;
    this.#params = params;
    this.#exclusive = exclusive;
    this.#url = url;
    this.#method = method;
    this.#nameTag = nameTag;
    this.#requestBody = body;
  }

  /** Prepares the request and sends its first attempt (called at once, inside the promise's executor). */
  start(resolve: (r: R) => void, reject: (err: unknown) => void): void {
    const req = this.#req;
    const { test, vu } = req;
    const params = this.#params;
    const url = this.#url;
    this.#resolve = resolve;
    this.#reject = reject;
    if (vu.interrupted) throw new IterationInterruptedError();
    // Read before anything waits: k6/experimental/tracing's Client sets it around the call.
    this.#tracing = vu.tracing ?? test.tracing;
    const reqHeaders = this.#reqHeaders;
    let extraLines = '';
    let hostOverride: string | undefined;
    const headers = params?.headers;
    if (headers) {
      let entries = req.lastHeaderEntries;
      if (headers === req.lastHeaders && sameEntries(headers, entries)) {
        extraLines = req.lastHeaderLines;
        hostOverride = req.lastHostOverride;
      } else {
        const built: string[] = [];
        let hasUa = false;
        for (const k of Object.keys(headers)) {
          const v = String(headers[k]);
          built.push(k, v);
          const lower = k.toLowerCase();
          if (lower === 'host') hostOverride = v;
          if (lower === 'host' || lower === 'content-length') continue;
          if (lower === 'user-agent') hasUa = true;
          extraLines += `${k}: ${v}\r\n`;
        }
        if (!hasUa) extraLines += req.userAgentLine;
        entries = built;
        req.lastHeaders = headers;
        req.lastHeaderEntries = built;
        req.lastHeaderLines = extraLines;
        req.lastHostOverride = hostOverride;
      }
      for (let i = 0; i < entries.length; i += 2) reqHeaders[entries[i]!] = entries[i + 1]!;
    } else extraLines = req.userAgentLine;
    // Credentials in the URL: basic auth at once, digest after the server's challenge, NTLM as a
    // Negotiate now and an Authenticate after the challenge (same connection).
    let credentials = req.credentials;
    if (url !== req.credentialsUrl) {
      credentials = urlCredentials(url);
      req.credentials = credentials;
      req.credentialsUrl = url;
    }
    if (credentials !== null && (params?.auth ?? 'basic') === 'basic') extraLines += basicAuthLine(credentials);
    this.#credentials = credentials;
    this.#ntlm = credentials !== null && params?.auth === 'ntlm';
    this.#digestLine = this.#ntlm ? ntlmNegotiateLine() : '';
    this.#jar = params?.jar?.[STORE] ?? vu.cookies;
    const { buf, text } = bodyBuffer(this.#requestBody, reqHeaders);
    this.#requestBody = null;
    if (reqHeaders['Content-Type'] !== undefined && params?.headers?.['Content-Type'] === undefined)
      extraLines += `Content-Type: ${reqHeaders['Content-Type']}\r\n`;
    this.#extraLines = extraLines;
    this.#hostOverride = hostOverride;
    this.#text = text;
    this.#timeoutMs = params?.timeout === undefined ? 60_000 : (parseDuration(params.timeout) ?? 60_000);
    this.#responseType = params?.responseType ?? (test.discardResponseBodies ? 'none' : 'text');
    this.#maxRedirects = params?.redirects ?? test.maxRedirects;
    this.#body = buf;
    this.attempt();
  }

  /** Builds this attempt's head and sends it (after the --rps slot, if any). Throws before sending. */
  attempt(): void {
    const req = this.#req;
    const { test, vu } = req;
    const params = this.#params;
    const url = this.#url;
    const method = this.#method;
    const cacheable = this.#body === null;
    const lines = this.#extraLines;
    const host = this.#hostOverride;
    let target: ParsedTarget;
    let head: string | undefined;
    if (
      cacheable &&
      req.memoTarget !== null &&
      url === req.memoUrl &&
      method === req.memoMethod &&
      lines === req.memoLines &&
      host === req.memoHost
    ) {
      // A loop hitting one URL: the last request's target and head, no map lookup.
      target = req.memoTarget;
      head = req.memoHead;
    } else {
      try {
        target = vu.transport.target(url);
      } catch (err) {
        if (err instanceof InvalidUrlError) throw new Error(err.message);
        throw err;
      }
      // The per-URL heads hold requests without params only (their lines depend on the URL alone).
      const byUrl = cacheable && params === undefined ? req.heads.get(method) : undefined;
      head = byUrl?.get(url);
      if (head === undefined) {
        head = `${method} ${target.path} HTTP/1.1\r\nHost: ${host ?? target.hostHeader}\r\n${lines}`;
        if (cacheable && params === undefined && req.headCount < 256) {
          if (byUrl === undefined) req.heads.set(method, new Map([[url, head]]));
          else byUrl.set(url, head);
          req.headCount++;
        }
      }
      if (cacheable) {
        req.memoTarget = target;
        req.memoHead = head;
        req.memoUrl = url;
        req.memoMethod = method;
        req.memoLines = lines;
        req.memoHost = host;
      }
    }
    const tracing = this.#tracing;
    const propagator =
      params?.tracing === undefined
        ? tracing.propagator
        : params.tracing
          ? tracing.propagator === 'none'
            ? 'w3c'
            : tracing.propagator
          : 'none';
    let ids = propagator === 'none' ? null : newTraceIds();
    let sampled = ids !== null && (tracing.sampling >= 1 || Math.random() < tracing.sampling);
    // Inside an iteration whose span the script asked for, requests are that trace's spans.
    const span = vu.span;
    if (ids !== null && span !== null && span.iteration === vu.iterationInInstance) {
      ids = { traceId: span.traceId, spanId: ids.spanId, hex: null, at: 0 };
      sampled = span.sampled;
    }
    const jar = this.#jar!;
    const body = this.#body;
    const bare =
      ids === null && this.#digestLine === '' && jar.size === 0 && params?.cookies === undefined && body === null;
    let wire: string | TracedHead;
    if (bare && head === req.fullBase) wire = req.fullHead;
    else if (
      ids !== null &&
      propagator === 'w3c' &&
      this.#digestLine === '' &&
      jar.size === 0 &&
      params?.cookies === undefined &&
      body === null &&
      method !== 'POST' &&
      method !== 'PUT' &&
      method !== 'PATCH'
    )
      // Tracing's default: the head as its repeating part and the traceparent (traced-head.ts).
      wire = new TracedHead(head, ids, sampled);
    else {
      const base = head;
      if (ids !== null) head += traceHeader(propagator as 'w3c' | 'b3', ids, sampled);
      if (this.#digestLine !== '') head += this.#digestLine;
      if (jar.size > 0 || params?.cookies !== undefined) head += cookieLine(jar, new URL(url), params?.cookies);
      if (body !== null) head += `Content-Length: ${body.length}\r\n\r\n`;
      else if (method === 'POST' || method === 'PUT' || method === 'PATCH') head += 'Content-Length: 0\r\n\r\n';
      else head += '\r\n';
      if (bare) {
        req.fullBase = base;
        req.fullHead = head;
      }
      wire = head;
    }
    this.#target = target;
    this.#head = wire;
    this.#ids = ids;
    this.#sampled = sampled;
    const slot = test.httpOptions.rateLimit?.();
    if (slot === undefined) this.#transmit();
    else slot.then(() => this.#transmit(), this.#reject);
  }

  #transmit(): void {
    const vu = this.#req.vu;
    if (vu.interrupted) return this.#reject(new IterationInterruptedError());
    vu.transport.send(
      this.#target!,
      this.#head,
      this.#body,
      this.#method === 'HEAD',
      this.#responseType !== 'none',
      this.#timeoutMs,
      this.#exclusive,
      this.#onRaw,
    );
  }

  /** The transport's answer (Node's I/O callback, or at once for a failure before sending). */
  #received(raw: RawResponse): void {
    const callback =
      this.#params?.responseCallback !== undefined ? this.#params.responseCallback : this.#req.vu.responseCallback;
    if (callback !== null && !OWN_CALLBACKS.has(callback)) {
      inMicrotask(() => this.#settle(raw, callback));
      return;
    }
    this.#settle(raw, callback);
  }

  #settle(raw: RawResponse, callback: ((status: number) => boolean) | null): void {
    try {
      const r = this.#handle(raw, callback);
      if (r === undefined) this.attempt();
      else this.#resolve(r);
    } catch (err) {
      this.#reject(err);
    }
  }

  /** Emits the samples of one attempt; returns the Response, or undefined when another attempt follows. */
  #handle(raw: RawResponse, callback: ((status: number) => boolean) | null): R | undefined {
    const req = this.#req;
    const { test, vu } = req;
    const m = test.metrics;
    const params = this.#params;
    const userTags = params?.tags;
    const url = this.#url;
    const method = this.#method;
    const nameTag = this.#nameTag;
    const ids = this.#ids;
    if (vu.interrupted) throw new IterationInterruptedError();
    const duration = raw.sending + raw.waiting + raw.receiving;
    const ok = callback === null ? defaultExpected(raw.status) : callback(raw.status);
    let tags: Record<string, string>;
    if (
      raw.errorCode === 0 &&
      req.lastTags !== null &&
      req.lastUserTags === userTags &&
      (userTags === undefined || sameEntries(userTags, req.lastUserEntries)) &&
      req.lastBase === vu.tags &&
      req.lastStatus === raw.status &&
      req.lastOk === ok &&
      req.lastUrl === url &&
      req.lastMethod === method &&
      req.lastName === nameTag
    )
      tags = req.lastTags;
    else {
      tags = {
        ...vu.tags,
        method,
        status: String(raw.status),
        url,
        name: nameTag ?? url,
        expected_response: ok ? 'true' : 'false',
        proto: raw.proto === '' || raw.proto === 'HTTP/2.0' ? raw.proto : 'HTTP/1.1',
      };
      const entries: string[] = [];
      if (userTags !== undefined)
        for (const k of Object.keys(userTags)) {
          const v = String(userTags[k]);
          tags[k] = v;
          entries.push(k, v);
        }
      if (raw.errorCode !== 0) {
        tags.error_code = String(raw.errorCode);
        tags.error = raw.error;
      } else {
        tags = internTags(tags);
        req.lastTags = tags;
        req.lastUserTags = userTags;
        req.lastUserEntries = entries;
        req.lastBase = vu.tags;
        req.lastMethod = method;
        req.lastUrl = url;
        req.lastStatus = raw.status;
        req.lastOk = ok;
        req.lastName = nameTag;
      }
    }
    const corrected = duration + vu.startLag;
    const traceId = ids?.traceId;
    m.httpReqs.add(1, tags, traceId);
    m.httpReqDuration.add(corrected, tags, traceId);
    if (vu.scenario?.openModel) m.httpReqDurationUncorrected.add(duration, tags, traceId);
    m.httpReqBlocked.add(raw.blocked, tags);
    m.httpReqConnecting.add(raw.connecting, tags);
    m.httpReqTlsHandshaking.add(raw.tlsHandshaking, tags);
    m.httpReqSending.add(raw.sending, tags);
    m.httpReqWaiting.add(raw.waiting, tags);
    m.httpReqReceiving.add(raw.receiving, tags);
    m.httpReqFailed.add(ok ? 0 : 1, tags);
    // data_sent/data_received are the VU's, summed over the iteration (k6 emits them per iteration).
    vu.network.sent += raw.bytesSent;
    vu.network.received += raw.bytesReceived;
    if (ids !== null && corrected > 0 && test.slowest.wants(corrected)) {
      test.slowest.offer({
        duration: corrected,
        uncorrected: duration,
        method,
        url,
        name: tags.name!,
        status: raw.status,
        scenario: vu.scenario?.name ?? '',
        traceId: ids.traceId,
        sampled: this.#sampled,
        time: Date.now(),
      });
    }
    if (raw.setCookie) {
      const setCookies = setCookieLines(raw.rawHeaders);
      if (setCookies.length > 0) this.#jar!.store(new URL(url), setCookies);
    }
    const httpOptions = test.httpOptions;
    if (httpOptions.debug !== '') httpDebug(test, httpOptions.debug, String(this.#head), this.#body, raw);
    if (raw.errorCode !== 0) {
      if (httpOptions.throw) throw new Error(`${method} ${url}: ${raw.error}`);
      test.log('warn', 'Request Failed', { error: `${method} ${url}: ${raw.error}` });
    }
    const credentials = this.#credentials;
    if (raw.status === 401 && this.#ntlm && !this.#challenged) {
      this.#challenged = true;
      const challenge = ntlmChallenge(raw.rawHeaders);
      this.#digestLine = challenge === null ? '' : ntlmAuthenticateLine(challenge, credentials!);
      if (this.#digestLine !== '') return undefined;
    }
    if (raw.status === 401 && credentials !== null && params?.auth === 'digest' && this.#digestLine === '') {
      const challenge = Object.entries(parseHeaders(raw.rawHeaders)).find(
        ([k]) => k.toLowerCase() === 'www-authenticate',
      );
      this.#digestLine = digestAuthLine(challenge?.[1], method, this.#target!.path, credentials) ?? '';
      if (this.#digestLine !== '') return undefined;
    }
    if (REDIRECT.has(raw.status) && this.#maxRedirects > 0) {
      const location = parseHeaders(raw.rawHeaders).Location;
      if (location !== undefined) {
        this.#maxRedirects--;
        this.#url = new URL(location, url).href;
        if (raw.status === 303 || ((raw.status === 301 || raw.status === 302) && method === 'POST')) {
          this.#method = 'GET';
          this.#body = null;
        }
        return undefined;
      }
    }
    return req.makeResponse(raw, url, method, this.#reqHeaders, this.#text, this.#responseType, duration);
  }
}
