// k6/http for one VU: get/post/put/patch/del/head/options/request/batch, params (headers, tags,
// timeout, responseType, redirects), Response objects, and the per-request samples k6 emits. For
// open-model scenarios http_req_duration counts from the iteration's scheduled start (the VU's
// startLag is added) and http_req_duration_uncorrected keeps the time from the actual send.
import { types } from 'node:util';
import { parseDuration } from '../../duration.js';
import { InvalidUrlError, type ParsedTarget } from '../../http/client.js';
import type { RawResponse } from '../../http/connection.js';
import { parseHeaders } from '../../http/parser.js';
import { parseSetCookie, setCookieLines, type ResponseCookie } from '../../http/cookies.js';
import { newTraceIds, traceHeader } from '../../tracing.js';
import type { TestContext, VuState } from '../context.js';
import { IterationInterruptedError } from '../../errors.js';
import { parseHTML, type Selection } from './html.js';
import { ntlmAuthenticateLine, ntlmChallenge, ntlmNegotiateLine } from './ntlm.js';
import {
  basicAuthLine,
  CookieJar,
  digestAuthLine,
  FileData,
  formBody,
  HTTP_CONSTANTS,
  STORE,
  urlCredentials,
} from './http-extras.js';

type Body = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | null | undefined;

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

/** Sends a follow-up request for a Response (submitForm, clickLink) through the VU's http module. */
type Requester = (method: string, url: string, body: Body, params: RequestParams | undefined) => Promise<Response>;

export interface ResponseTimings {
  blocked: number;
  connecting: number;
  tls_handshaking: number;
  sending: number;
  waiting: number;
  receiving: number;
  duration: number;
}

/**
 * k6's Response. Headers, body and timings are materialized on first access: a GET loop that
 * only checks `status` never pays for decoding the body or parsing headers.
 */
export class Response {
  readonly status: number;
  readonly proto: string;
  readonly url: string;
  readonly error: string;
  readonly error_code: number;
  readonly #method: string;
  readonly #reqHeaders: Record<string, string>;
  readonly #reqBody: string;
  readonly #raw: RawResponse;
  readonly #duration: number;
  readonly #responseType: string;
  readonly #send: Requester;
  #headers: Record<string, string> | undefined;
  #body: string | ArrayBuffer | null | undefined;
  #timings: ResponseTimings | undefined;
  #cookies: Record<string, ResponseCookie[]> | undefined;

  constructor(
    raw: RawResponse,
    url: string,
    method: string,
    reqHeaders: Record<string, string>,
    reqBody: string,
    responseType: string,
    duration: number,
    send: Requester,
  ) {
    this.status = raw.status;
    this.proto = raw.proto;
    this.url = url;
    this.error = raw.error;
    this.error_code = raw.errorCode;
    this.#method = method;
    this.#reqHeaders = reqHeaders;
    this.#reqBody = reqBody;
    this.#raw = raw;
    this.#duration = duration;
    this.#responseType = responseType;
    this.#send = send;
  }

  /** The body as an HTML document (k6/html's Selection); with a selector, the matching elements. */
  html(selector?: string): Selection {
    const body = this.body;
    if (typeof body !== 'string')
      throw new Error('the body is not text: cannot parse HTML (responseType is not "text")');
    const doc = parseHTML(body, this.url);
    return selector === undefined ? doc : doc.find(selector);
  }

  /**
   * Fills and submits a form of this page, as a browser would: the form's method and action
   * (resolved against this response's URL), its successful fields, `fields` on top, and the
   * submit button's name and value when it has them.
   */
  submitForm(args?: {
    formSelector?: string;
    fields?: Record<string, string | number>;
    submitSelector?: string;
    params?: RequestParams;
  }): Promise<Response> {
    const form = this.html()
      .find(args?.formSelector ?? 'form')
      .first();
    if (form.size() === 0) throw new Error(`submitForm: no form matches '${args?.formSelector ?? 'form'}'`);
    const method = (form.attr('method') ?? 'GET').toUpperCase();
    const action = new URL(form.attr('action') ?? '', this.url);
    const values = new URLSearchParams(form.serializeArray().map((f): [string, string] => [f.name, f.value]));
    for (const [k, v] of Object.entries(args?.fields ?? {})) values.set(k, String(v));
    const submit = form.find(args?.submitSelector ?? '[type="submit"]').first();
    const submitName = submit.attr('name');
    if (submitName !== undefined && submitName !== '') values.set(submitName, submit.attr('value') ?? '');
    if (method === 'GET') {
      action.search = values.toString();
      return this.#send('GET', action.href, null, args?.params);
    }
    const params: RequestParams = { ...args?.params, headers: { ...args?.params?.headers } };
    if (!Object.keys(params.headers!).some((h) => h.toLowerCase() === 'content-type'))
      params.headers!['Content-Type'] = 'application/x-www-form-urlencoded';
    return this.#send(method, action.href, values.toString(), params);
  }

  /** Follows a link of this page: the first element matching `selector` (default a[href]). */
  clickLink(args?: { selector?: string; params?: RequestParams }): Promise<Response> {
    const selector = args?.selector ?? 'a[href]';
    const href = this.html().find(selector).first().attr('href');
    if (href === undefined) throw new Error(`clickLink: no link matches '${selector}'`);
    return this.#send('GET', new URL(href, this.url).href, null, args?.params);
  }

  /** "200 OK"; built on read, as most scripts never look at it. */
  get status_text(): string {
    return this.status === 0 ? '' : `${this.status} ${this.#raw.statusText}`;
  }

  get request(): { method: string; url: string; headers: Record<string, string>; body: string } {
    return { method: this.#method, url: this.url, headers: this.#reqHeaders, body: this.#reqBody };
  }

  get headers(): Record<string, string> {
    return (this.#headers ??= parseHeaders(this.#raw.rawHeaders));
  }

  get body(): string | ArrayBuffer | null {
    if (this.#body === undefined) {
      const b = this.#raw.body;
      if (this.#responseType === 'none' || b === null) this.#body = null;
      else if (this.#responseType === 'binary')
        this.#body = b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
      else this.#body = b.toString('utf8');
    }
    return this.#body;
  }

  get timings(): ResponseTimings {
    const r = this.#raw;
    return (this.#timings ??= {
      blocked: r.blocked,
      connecting: r.connecting,
      tls_handshaking: r.tlsHandshaking,
      sending: r.sending,
      waiting: r.waiting,
      receiving: r.receiving,
      duration: this.#duration,
    });
  }

  /** Cookies this response set, by name (k6's res.cookies). */
  get cookies(): Record<string, ResponseCookie[]> {
    if (this.#cookies === undefined) {
      const out: Record<string, ResponseCookie[]> = {};
      const url = new URL(this.url);
      const now = Date.now();
      for (const line of this.#raw.setCookie ? setCookieLines(this.#raw.rawHeaders) : []) {
        const c = parseSetCookie(line, url, now);
        if (c === undefined) continue;
        (out[c.name] ??= []).push({
          name: c.name,
          value: c.value,
          domain: c.domain,
          path: c.path,
          http_only: c.httpOnly,
          secure: c.secure,
          max_age: c.expires === Infinity ? 0 : Math.round((c.expires - now) / 1000),
          expires: c.expires === Infinity ? 0 : c.expires,
        });
      }
      this.#cookies = out;
    }
    return this.#cookies;
  }

  /** Parses the body as JSON; with a selector, walks a dotted path (a small subset of gjson: a.b, a.0, a.#). */
  json(selector?: string): unknown {
    const body = this.body;
    if (typeof body !== 'string')
      throw new Error('the body is not text: cannot parse JSON (responseType is not "text")');
    const value: unknown = JSON.parse(body);
    if (selector === undefined) return value;
    let cur: unknown = value;
    for (const part of selector.split('.')) {
      if (cur === null || typeof cur !== 'object') return undefined;
      if (part === '#' && Array.isArray(cur)) return cur.length;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }

  toJSON(): Record<string, unknown> {
    return {
      status: this.status,
      status_text: this.status_text,
      proto: this.proto,
      url: this.url,
      headers: this.headers,
      body: this.body,
      timings: this.timings,
      error: this.error,
      error_code: this.error_code,
    };
  }
}

/** http.url`…${id}…`: the URL plus a `name` tag with the placeholders kept, so requests group by route. */
export class TaggedURL {
  readonly url: string;
  readonly name: string;
  constructor(strings: TemplateStringsArray, values: unknown[]) {
    let url = strings[0] ?? '';
    let name = url;
    values.forEach((v, i) => {
      url += String(v) + (strings[i + 1] ?? '');
      name += `\${}${strings[i + 1] ?? ''}`;
    });
    this.url = url;
    this.name = name;
  }
  toString(): string {
    return this.url;
  }
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

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/**
 * http.batch() with k6's `batch` (requests in flight at once) and `batchPerHost` (per host; 0 is
 * unlimited) limits; results keep the order of the items.
 */
async function inBatches<T>(
  items: readonly T[],
  limit: number,
  perHost: number,
  host: (item: T, i: number) => string,
  run: (item: T, i: number) => Promise<Response>,
): Promise<Response[]> {
  if (items.length <= limit && perHost === 0) return Promise.all(items.map(run));
  const out = new Array<Response>(items.length);
  const hosts = items.map(host);
  const active = new Map<string, number>();
  const waiting = items.map((_, i) => i);
  let inFlight = 0;
  let failed: { err: unknown } | undefined;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (failed !== undefined || (waiting.length === 0 && inFlight === 0)) return resolve();
      for (let w = 0; w < waiting.length && inFlight < limit; ) {
        const i = waiting[w]!;
        const h = hosts[i]!;
        if (perHost > 0 && (active.get(h) ?? 0) >= perHost) {
          w++;
          continue;
        }
        waiting.splice(w, 1);
        inFlight++;
        active.set(h, (active.get(h) ?? 0) + 1);
        run(items[i]!, i).then(
          (r) => {
            out[i] = r;
            inFlight--;
            active.set(h, active.get(h)! - 1);
            pump();
          },
          (err: unknown) => {
            failed ??= { err };
            pump();
          },
        );
      }
    };
    pump();
  });
  if (failed !== undefined) throw failed.err;
  return out;
}

export function createHttpModule(test: TestContext, vu: VuState): Record<string, unknown> {
  const m = test.metrics;
  const userAgentLine = test.userAgent === '' ? '' : `User-Agent: ${test.userAgent}\r\n`;

  const expectedStatuses = (...specs: Array<number | { min: number; max: number }>): ((status: number) => boolean) => {
    const singles = new Set<number>();
    const ranges: Array<{ min: number; max: number }> = [];
    for (const s of specs) {
      if (typeof s === 'number') singles.add(s);
      else if (s !== null && typeof s === 'object' && typeof s.min === 'number' && typeof s.max === 'number')
        ranges.push(s);
      else throw new Error('expectedStatuses takes status codes and {min, max} ranges');
    }
    return (status) => singles.has(status) || ranges.some((r) => status >= r.min && status <= r.max);
  };

  // The last request's tag set, reused while nothing that feeds it changes: a GET loop then
  // allocates no tag object per request.
  let lastTags: Record<string, string> | null = null;
  let lastBase: unknown = null;
  let lastMethod = '';
  let lastUrl = '';
  let lastStatus = -1;
  let lastOk = false;
  let lastName: string | undefined;
  // Request heads without per-request parts, by method then URL, for requests without params
  // (two lookups keyed by strings the script reuses, whose hashes V8 has cached: no key to build).
  const heads = new Map<string, Map<string, string>>();
  let headCount = 0;
  let memoTarget: ParsedTarget | null = null;
  let memoHead = '';
  let memoUrl = '';
  let memoMethod = '';

  const one = async (
    method: string,
    url: string | TaggedURL,
    body: Body,
    params: RequestParams | undefined,
    exclusive: boolean,
  ): Promise<Response> => {
    if (vu.interrupted) throw new IterationInterruptedError();
    // Read before the first await: k6/experimental/tracing's Client sets it around the call.
    const tracing = vu.tracing ?? test.tracing;
    const reqHeaders: Record<string, string> = {};
    let extraLines = '';
    let hostOverride: string | undefined;
    if (params?.headers) {
      let hasUa = false;
      for (const k of Object.keys(params.headers)) {
        const v = String(params.headers[k]);
        reqHeaders[k] = v;
        const lower = k.toLowerCase();
        if (lower === 'host') hostOverride = v;
        if (lower === 'host' || lower === 'content-length') continue;
        if (lower === 'user-agent') hasUa = true;
        extraLines += `${k}: ${v}\r\n`;
      }
      if (!hasUa) extraLines += userAgentLine;
    } else extraLines = userAgentLine;
    // Credentials in the URL: basic auth at once, digest after the server's challenge, NTLM as a
    // Negotiate now and an Authenticate after the challenge (same connection).
    const credentials = urlCredentials(String(url));
    if (credentials !== null && (params?.auth ?? 'basic') === 'basic') extraLines += basicAuthLine(credentials);
    const ntlm = credentials !== null && params?.auth === 'ntlm';
    // The Authorization line of the next attempt (digest or NTLM); '' once none is due.
    let digestLine = ntlm ? ntlmNegotiateLine() : '';
    let challenged = false;
    const jar = params?.jar?.[STORE] ?? vu.cookies;
    const { buf, text } = bodyBuffer(body, reqHeaders);
    if (reqHeaders['Content-Type'] !== undefined && params?.headers?.['Content-Type'] === undefined)
      extraLines += `Content-Type: ${reqHeaders['Content-Type']}\r\n`;
    const timeoutMs = params?.timeout === undefined ? 60_000 : (parseDuration(params.timeout) ?? 60_000);
    const responseType = params?.responseType ?? (test.discardResponseBodies ? 'none' : 'text');
    const userTags = params?.tags;
    let maxRedirects = params?.redirects ?? test.maxRedirects;
    let currentUrl = String(url);
    let currentMethod = method;
    let currentBody = buf;
    const nameTag =
      userTags?.name !== undefined ? String(userTags.name) : url instanceof TaggedURL ? url.name : undefined;
    for (;;) {
      const cacheable = params === undefined && currentBody === null;
      let target: ParsedTarget;
      let head: string | undefined;
      if (cacheable && memoTarget !== null && currentUrl === memoUrl && currentMethod === memoMethod) {
        // A loop hitting one URL: the last request's target and head, no map lookup.
        target = memoTarget;
        head = memoHead;
      } else {
        try {
          target = vu.transport.target(currentUrl);
        } catch (err) {
          if (err instanceof InvalidUrlError) throw new Error(err.message);
          throw err;
        }
        const byUrl = cacheable ? heads.get(currentMethod) : undefined;
        head = byUrl?.get(currentUrl);
        if (head === undefined) {
          head = `${currentMethod} ${target.path} HTTP/1.1\r\nHost: ${hostOverride ?? target.hostHeader}\r\n${extraLines}`;
          if (cacheable && headCount < 256) {
            if (byUrl === undefined) heads.set(currentMethod, new Map([[currentUrl, head]]));
            else byUrl.set(currentUrl, head);
            headCount++;
          }
        }
        if (cacheable) {
          memoTarget = target;
          memoHead = head;
          memoUrl = currentUrl;
          memoMethod = currentMethod;
        }
      }
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
        ids = { traceId: span.traceId, spanId: ids.spanId };
        sampled = span.sampled;
      }
      if (ids !== null) head += traceHeader(propagator as 'w3c' | 'b3', ids, sampled);
      if (digestLine !== '') head += digestLine;
      if (jar.size > 0 || params?.cookies !== undefined) head += cookieLine(jar, new URL(currentUrl), params?.cookies);
      if (currentBody !== null) head += `Content-Length: ${currentBody.length}\r\n\r\n`;
      else if (currentMethod === 'POST' || currentMethod === 'PUT' || currentMethod === 'PATCH')
        head += 'Content-Length: 0\r\n\r\n';
      else head += '\r\n';
      const httpOptions = test.httpOptions;
      const slot = httpOptions.rateLimit?.();
      if (slot !== undefined) await slot;
      const raw = await vu.transport.request(
        target,
        head,
        currentBody,
        currentMethod === 'HEAD',
        responseType !== 'none',
        timeoutMs,
        exclusive,
      );
      if (vu.interrupted) throw new IterationInterruptedError();
      const duration = raw.sending + raw.waiting + raw.receiving;
      const callback = params?.responseCallback !== undefined ? params.responseCallback : vu.responseCallback;
      const ok = callback === null ? defaultExpected(raw.status) : callback(raw.status);
      let tags: Record<string, string>;
      if (
        userTags === undefined &&
        raw.errorCode === 0 &&
        lastTags !== null &&
        lastBase === vu.tags &&
        lastStatus === raw.status &&
        lastOk === ok &&
        lastUrl === currentUrl &&
        lastMethod === currentMethod &&
        lastName === nameTag
      )
        tags = lastTags;
      else {
        tags = {
          ...vu.tags,
          method: currentMethod,
          status: String(raw.status),
          url: currentUrl,
          name: nameTag ?? currentUrl,
          expected_response: ok ? 'true' : 'false',
          proto: raw.proto === '' ? '' : 'HTTP/1.1',
        };
        if (userTags !== undefined) for (const k of Object.keys(userTags)) tags[k] = String(userTags[k]);
        if (raw.errorCode !== 0) {
          tags.error_code = String(raw.errorCode);
          tags.error = raw.error;
        } else if (userTags === undefined) {
          lastTags = tags;
          lastBase = vu.tags;
          lastMethod = currentMethod;
          lastUrl = currentUrl;
          lastStatus = raw.status;
          lastOk = ok;
          lastName = nameTag;
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
          method: currentMethod,
          url: currentUrl,
          name: tags.name!,
          status: raw.status,
          scenario: vu.scenario?.name ?? '',
          traceId: ids.traceId,
          sampled,
          time: Date.now(),
        });
      }
      if (raw.setCookie) {
        const setCookies = setCookieLines(raw.rawHeaders);
        if (setCookies.length > 0) jar.store(new URL(currentUrl), setCookies);
      }
      if (httpOptions.debug !== '') httpDebug(test, httpOptions.debug, head, currentBody, raw);
      if (raw.errorCode !== 0) {
        if (httpOptions.throw) throw new Error(`${currentMethod} ${currentUrl}: ${raw.error}`);
        test.log('warn', 'Request Failed', { error: `${currentMethod} ${currentUrl}: ${raw.error}` });
      }
      if (raw.status === 401 && ntlm && !challenged) {
        challenged = true;
        const challenge = ntlmChallenge(raw.rawHeaders);
        digestLine = challenge === null ? '' : ntlmAuthenticateLine(challenge, credentials);
        if (digestLine !== '') continue;
      }
      if (raw.status === 401 && credentials !== null && params?.auth === 'digest' && digestLine === '') {
        const challenge = Object.entries(parseHeaders(raw.rawHeaders)).find(
          ([k]) => k.toLowerCase() === 'www-authenticate',
        );
        digestLine = digestAuthLine(challenge?.[1], currentMethod, target.path, credentials) ?? '';
        if (digestLine !== '') continue;
      }
      if (REDIRECT.has(raw.status) && maxRedirects > 0) {
        const location = parseHeaders(raw.rawHeaders).Location;
        if (location !== undefined) {
          maxRedirects--;
          currentUrl = new URL(location, currentUrl).href;
          if (raw.status === 303 || ((raw.status === 301 || raw.status === 302) && currentMethod === 'POST')) {
            currentMethod = 'GET';
            currentBody = null;
          }
          continue;
        }
      }
      return new Response(raw, currentUrl, currentMethod, reqHeaders, text, responseType, duration, follow);
    }
  };

  /** The Cookie header: the jar's cookies for the URL, overridden or extended by params.cookies. */
  const cookieLine = (jar: VuState['cookies'], url: URL, extra: RequestParams['cookies']): string => {
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
  };

  const cookieJar = new CookieJar(vu.cookies);

  const request = (method: string, url: string | TaggedURL, body?: Body, params?: RequestParams): Promise<Response> =>
    one(String(method).toUpperCase(), url, body, params, false);
  const follow: Requester = (method, url, body, params) => one(method, url, body, params, false);

  type BatchItem =
    | string
    | [string, string, Body?, RequestParams?]
    | { method?: string; url: string; body?: Body; params?: RequestParams };
  const batch = async (
    reqs: BatchItem[] | Record<string, BatchItem>,
  ): Promise<Response[] | Record<string, Response>> => {
    const norm = (r: BatchItem): { method: string; url: string; body: Body; params: RequestParams | undefined } => {
      if (typeof r === 'string') return { method: 'GET', url: r, body: null, params: undefined };
      if (Array.isArray(r)) return { method: String(r[0]).toUpperCase(), url: r[1], body: r[2] ?? null, params: r[3] };
      return { method: (r.method ?? 'GET').toUpperCase(), url: r.url, body: r.body ?? null, params: r.params };
    };
    const run = (r: BatchItem, i: number): Promise<Response> => {
      const n = norm(r);
      return one(n.method, n.url, n.body, n.params, i > 0);
    };
    const { batch: limit, batchPerHost } = test.httpOptions;
    if (Array.isArray(reqs)) return inBatches(reqs, limit, batchPerHost, (r) => hostOf(norm(r).url), run);
    const keys = Object.keys(reqs);
    const res = await inBatches(
      keys,
      limit,
      batchPerHost,
      (k) => hostOf(norm(reqs[k]!).url),
      (k, i) => run(reqs[k]!, i),
    );
    return Object.fromEntries(keys.map((k, i) => [k, res[i]!]));
  };

  const mod: Record<string, unknown> = {
    get: (url: string | TaggedURL, params?: RequestParams) => one('GET', url, null, params, false),
    head: (url: string | TaggedURL, params?: RequestParams) => one('HEAD', url, null, params, false),
    options: (url: string | TaggedURL, body?: Body, params?: RequestParams) => one('OPTIONS', url, body, params, false),
    post: (url: string | TaggedURL, body?: Body, params?: RequestParams) => one('POST', url, body, params, false),
    put: (url: string | TaggedURL, body?: Body, params?: RequestParams) => one('PUT', url, body, params, false),
    patch: (url: string | TaggedURL, body?: Body, params?: RequestParams) => one('PATCH', url, body, params, false),
    del: (url: string | TaggedURL, body?: Body, params?: RequestParams) => one('DELETE', url, body, params, false),
    url: (strings: TemplateStringsArray, ...values: unknown[]) => new TaggedURL(strings, values),
    request,
    asyncRequest: request,
    batch,
    expectedStatuses,
    cookieJar: () => cookieJar,
    CookieJar,
    file: (data: string | ArrayBuffer | ArrayBufferView, filename?: string, contentType?: string) =>
      new FileData(data, filename, contentType),
    FileData,
    ...HTTP_CONSTANTS,
    // Newer k6 spelling of k6/experimental/tracing's instrumentHTTP: this VU's requests carry
    // trace context (w3c unless the options say b3), sampled at options.sampling (default all).
    enableTracing: (options?: { propagator?: string; sampling?: number }) => {
      const propagator = options?.propagator ?? 'w3c';
      if (propagator !== 'w3c' && propagator !== 'b3')
        throw new Error(`enableTracing: propagator must be 'w3c' or 'b3', got ${JSON.stringify(propagator)}`);
      const sampling = options?.sampling ?? 1;
      if (typeof sampling !== 'number' || !(sampling >= 0 && sampling <= 1))
        throw new Error(`enableTracing: sampling must be a number from 0 to 1, got ${JSON.stringify(sampling)}`);
      vu.tracing = { propagator, sampling };
    },
    setResponseCallback: (cb: ((status: number) => boolean) | null) => {
      vu.responseCallback = cb;
    },
    Response,
  };
  mod.default = mod;
  return mod;
}
