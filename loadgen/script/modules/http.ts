// k6/http for one VU: get/post/put/patch/del/head/options/request/batch, params (headers, tags,
// timeout, responseType, redirects), Response objects, and the per-request samples k6 emits. For
// open-model scenarios http_req_duration counts from the iteration's scheduled start (the VU's
// startLag is added) and http_req_duration_uncorrected keeps the time from the actual send.
import { parseDuration } from '../../duration.js';
import { InvalidUrlError, type ParsedTarget } from '../../http/client.js';
import type { RawResponse } from '../../http/connection.js';
import { newTraceIds, traceHeader } from '../../tracing.js';
import type { TestContext, VuState } from '../context.js';
import { IterationInterruptedError } from '../../errors.js';

type Body = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | null | undefined;

export interface RequestParams {
  headers?: Record<string, string | number>;
  tags?: Record<string, string | number | boolean>;
  timeout?: string | number;
  responseType?: 'text' | 'binary' | 'none';
  redirects?: number;
  responseCallback?: ((status: number) => boolean) | null;
}

export interface ResponseTimings {
  blocked: number;
  connecting: number;
  tls_handshaking: number;
  sending: number;
  waiting: number;
  receiving: number;
  duration: number;
}

export class Response {
  status: number;
  status_text: string;
  proto: string;
  url: string;
  headers: Record<string, string>;
  body: string | ArrayBuffer | null;
  timings: ResponseTimings;
  error: string;
  error_code: number;
  request: { method: string; url: string; headers: Record<string, string>; body: string };
  constructor(raw: RawResponse, url: string, method: string, reqHeaders: Record<string, string>, reqBody: string, responseType: string, duration: number) {
    this.status = raw.status;
    this.status_text = raw.status === 0 ? '' : `${raw.status} ${raw.statusText}`;
    this.proto = raw.proto;
    this.url = url;
    this.headers = raw.headers;
    this.error = raw.error;
    this.error_code = raw.errorCode;
    this.request = { method, url, headers: reqHeaders, body: reqBody };
    const t = raw.timings;
    this.timings = { blocked: t.blocked, connecting: t.connecting, tls_handshaking: t.tlsHandshaking, sending: t.sending, waiting: t.waiting, receiving: t.receiving, duration };
    if (responseType === 'none' || raw.body === null) this.body = null;
    else if (responseType === 'binary') this.body = raw.body.buffer.slice(raw.body.byteOffset, raw.body.byteOffset + raw.body.length) as ArrayBuffer;
    else this.body = raw.body.toString('utf8');
  }

  /** Parses the body as JSON; with a selector, walks a dotted/indexed path (a small subset of gjson). */
  json(selector?: string): unknown {
    if (typeof this.body !== 'string') throw new Error('the body is not text: cannot parse JSON (responseType is not "text")');
    const value: unknown = JSON.parse(this.body);
    if (selector === undefined) return value;
    let cur: unknown = value;
    for (const part of selector.split('.')) {
      if (cur === null || typeof cur !== 'object') return undefined;
      if (part === '#' && Array.isArray(cur)) return cur.length;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }
}

function defaultExpected(status: number): boolean {
  return status >= 200 && status < 400;
}

function bodyBuffer(body: Body, headers: Record<string, string>): { buf: Buffer | null; text: string } {
  if (body === null || body === undefined) return { buf: null, text: '' };
  if (typeof body === 'string') return { buf: Buffer.from(body, 'utf8'), text: body };
  if (body instanceof ArrayBuffer) return { buf: Buffer.from(body), text: '' };
  if (ArrayBuffer.isView(body)) return { buf: Buffer.from(body.buffer, body.byteOffset, body.byteLength), text: '' };
  // k6 sends a plain object as an urlencoded form.
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) form.append(k, String(v));
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
  const text = form.toString();
  return { buf: Buffer.from(text, 'utf8'), text };
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

export function createHttpModule(test: TestContext, vu: VuState): Record<string, unknown> {
  const m = test.metrics;
  const tracing = test.tracing;
  const userAgentLine = test.userAgent === '' ? '' : `User-Agent: ${test.userAgent}\r\n`;

  const expectedStatuses = (...specs: Array<number | { min: number; max: number }>): ((status: number) => boolean) => {
    const singles = new Set<number>();
    const ranges: Array<{ min: number; max: number }> = [];
    for (const s of specs) {
      if (typeof s === 'number') singles.add(s);
      else if (s !== null && typeof s === 'object' && typeof s.min === 'number' && typeof s.max === 'number') ranges.push(s);
      else throw new Error('expectedStatuses takes status codes and {min, max} ranges');
    }
    return (status) => singles.has(status) || ranges.some((r) => status >= r.min && status <= r.max);
  };

  const one = async (method: string, url: string, body: Body, params: RequestParams | undefined, exclusive: boolean): Promise<Response> => {
    if (vu.interrupted) throw new IterationInterruptedError();
    const reqHeaders: Record<string, string> = {};
    if (params?.headers) for (const [k, v] of Object.entries(params.headers)) reqHeaders[k] = String(v);
    const { buf, text } = bodyBuffer(body, reqHeaders);
    const timeoutMs = params?.timeout === undefined ? 60_000 : (parseDuration(params.timeout) ?? 60_000);
    const responseType = params?.responseType ?? (test.discardResponseBodies ? 'none' : 'text');
    let maxRedirects = params?.redirects ?? test.maxRedirects;
    let currentUrl = String(url);
    let currentMethod = method.toUpperCase();
    let currentBody = buf;
    let extraLines = '';
    let hasUa = false;
    for (const [k, v] of Object.entries(reqHeaders)) {
      const lower = k.toLowerCase();
      if (lower === 'host' || lower === 'content-length') continue;
      if (lower === 'user-agent') hasUa = true;
      extraLines += `${k}: ${v}\r\n`;
    }
    if (!hasUa) extraLines += userAgentLine;
    const nameTag = params?.tags?.name !== undefined ? String(params.tags.name) : undefined;
    for (;;) {
      let target: ParsedTarget;
      try {
        target = vu.transport.target(currentUrl);
      } catch (err) {
        if (err instanceof InvalidUrlError) throw new Error(err.message);
        throw err;
      }
      const ids = tracing.propagator === 'none' ? null : newTraceIds();
      const sampled = ids !== null && (tracing.sampling >= 1 || Math.random() < tracing.sampling);
      let head = `${currentMethod} ${target.path} HTTP/1.1\r\nHost: ${target.hostHeader}\r\n${extraLines}`;
      if (ids !== null) head += traceHeader(tracing.propagator as 'w3c' | 'b3', ids, sampled);
      if (currentBody !== null) head += `Content-Length: ${currentBody.length}\r\n`;
      else if (currentMethod === 'POST' || currentMethod === 'PUT' || currentMethod === 'PATCH') head += 'Content-Length: 0\r\n';
      head += '\r\n';
      const raw = await vu.transport.request(target, head, currentBody, currentMethod === 'HEAD', responseType !== 'none', timeoutMs, exclusive);
      if (vu.interrupted) throw new IterationInterruptedError();
      const t = raw.timings;
      const duration = t.sending + t.waiting + t.receiving;
      const expected = (params?.responseCallback !== undefined ? params.responseCallback : vu.responseCallback) ?? defaultExpected;
      const ok = expected(raw.status);
      const tags: Record<string, string> = { ...vu.tags, method: currentMethod, status: String(raw.status), url: currentUrl, name: nameTag ?? currentUrl, expected_response: ok ? 'true' : 'false', proto: raw.proto === '' ? '' : 'HTTP/1.1' };
      if (params?.tags) for (const [k, v] of Object.entries(params.tags)) tags[k] = String(v);
      if (raw.errorCode !== 0) {
        tags.error_code = String(raw.errorCode);
        tags.error = raw.error;
      }
      const corrected = duration + vu.startLag;
      m.httpReqs.add(1, tags);
      m.httpReqDuration.add(corrected, tags);
      if (vu.scenario?.openModel) m.httpReqDurationUncorrected.add(duration, tags);
      m.httpReqBlocked.add(t.blocked, tags);
      m.httpReqConnecting.add(t.connecting, tags);
      m.httpReqTlsHandshaking.add(t.tlsHandshaking, tags);
      m.httpReqSending.add(t.sending, tags);
      m.httpReqWaiting.add(t.waiting, tags);
      m.httpReqReceiving.add(t.receiving, tags);
      m.httpReqFailed.add(ok ? 0 : 1, tags);
      m.dataSent.add(raw.bytesSent, tags);
      m.dataReceived.add(raw.bytesReceived, tags);
      if (ids !== null && test.slowest.wants(corrected)) {
        test.slowest.offer({ duration: corrected, uncorrected: duration, method: currentMethod, url: currentUrl, name: tags.name!, status: raw.status, scenario: vu.scenario?.name ?? '', traceId: ids.traceId, sampled, time: Date.now() });
      }
      if (raw.errorCode !== 0) test.log('warn', `Request Failed`, { error: `${currentMethod} ${currentUrl}: ${raw.error}` });
      const location = raw.headers.Location;
      if (REDIRECT.has(raw.status) && location !== undefined && maxRedirects > 0) {
        maxRedirects--;
        currentUrl = new URL(location, currentUrl).href;
        if (raw.status === 303 || ((raw.status === 301 || raw.status === 302) && currentMethod === 'POST')) {
          currentMethod = 'GET';
          currentBody = null;
        }
        continue;
      }
      return new Response(raw, currentUrl, currentMethod, reqHeaders, text, responseType, duration);
    }
  };

  const request = (method: string, url: string, body?: Body, params?: RequestParams): Promise<Response> => one(method, url, body, params, false);

  type BatchItem = string | [string, string, Body?, RequestParams?] | { method?: string; url: string; body?: Body; params?: RequestParams };
  const batch = async (reqs: BatchItem[] | Record<string, BatchItem>): Promise<Response[] | Record<string, Response>> => {
    const norm = (r: BatchItem): { method: string; url: string; body: Body; params: RequestParams | undefined } => {
      if (typeof r === 'string') return { method: 'GET', url: r, body: null, params: undefined };
      if (Array.isArray(r)) return { method: r[0], url: r[1], body: r[2] ?? null, params: r[3] };
      return { method: r.method ?? 'GET', url: r.url, body: r.body ?? null, params: r.params };
    };
    const run = (r: BatchItem, i: number): Promise<Response> => {
      const n = norm(r);
      return one(n.method, n.url, n.body, n.params, i > 0);
    };
    if (Array.isArray(reqs)) return Promise.all(reqs.map(run));
    const keys = Object.keys(reqs);
    const res = await Promise.all(keys.map((k, i) => run(reqs[k]!, i)));
    return Object.fromEntries(keys.map((k, i) => [k, res[i]!]));
  };

  const mod: Record<string, unknown> = {
    get: (url: string, params?: RequestParams) => one('GET', url, null, params, false),
    head: (url: string, params?: RequestParams) => one('HEAD', url, null, params, false),
    options: (url: string, body?: Body, params?: RequestParams) => one('OPTIONS', url, body, params, false),
    post: (url: string, body?: Body, params?: RequestParams) => one('POST', url, body, params, false),
    put: (url: string, body?: Body, params?: RequestParams) => one('PUT', url, body, params, false),
    patch: (url: string, body?: Body, params?: RequestParams) => one('PATCH', url, body, params, false),
    del: (url: string, body?: Body, params?: RequestParams) => one('DELETE', url, body, params, false),
    request,
    asyncRequest: request,
    batch,
    expectedStatuses,
    setResponseCallback: (cb: ((status: number) => boolean) | null) => {
      vu.responseCallback = cb;
    },
    Response,
  };
  mod.default = mod;
  return mod;
}
