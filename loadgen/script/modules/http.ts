// k6/http for one VU: get/post/put/patch/del/head/options/request/batch, params (headers, tags,
// timeout, responseType, redirects) and Response objects. The request itself, its follow-ups and
// the per-request samples k6 emits are http-exchange.ts's. For open-model scenarios
// http_req_duration counts from the iteration's scheduled start (the VU's startLag is added) and
// http_req_duration_uncorrected keeps the time from the actual send.
import type { RawResponse } from '../../http/connection.js';
import { parseHeaders } from '../../http/parser.js';
import { parseSetCookie, setCookieLines, type ResponseCookie } from '../../http/cookies.js';
import type { TestContext, VuState } from '../context.js';
import { parseHTML, type Selection } from './html.js';
import { CookieJar, FileData, HTTP_CONSTANTS } from './http-extras.js';
import { type Body, HttpRequester, ownResponseCallback, type RequestParams } from './http-exchange.js';

export type { RequestParams } from './http-exchange.js';

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
  const expectedStatuses = (...specs: Array<number | { min: number; max: number }>): ((status: number) => boolean) => {
    const singles = new Set<number>();
    const ranges: Array<{ min: number; max: number }> = [];
    for (const s of specs) {
      if (typeof s === 'number') singles.add(s);
      else if (s !== null && typeof s === 'object' && typeof s.min === 'number' && typeof s.max === 'number')
        ranges.push(s);
      else throw new Error('expectedStatuses takes status codes and {min, max} ranges');
    }
    return ownResponseCallback(
      (status) => singles.has(status) || ranges.some((r) => status >= r.min && status <= r.max),
    );
  };

  const requester = new HttpRequester<Response>(
    test,
    vu,
    (raw, url, method, reqHeaders, reqBody, responseType, duration) =>
      new Response(raw, url, method, reqHeaders, reqBody, responseType, duration, follow),
  );
  const one = (
    method: string,
    url: string | TaggedURL,
    body: Body,
    params: RequestParams | undefined,
    exclusive: boolean,
  ): Promise<Response> => {
    const nameTag =
      params?.tags?.name !== undefined ? String(params.tags.name) : url instanceof TaggedURL ? url.name : undefined;
    return requester.send(method, String(url), nameTag, body, params, exclusive);
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
