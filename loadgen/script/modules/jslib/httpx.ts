// jslib.k6.io/httpx, served built in: the Httpx session (a base URL, headers, tags and a timeout
// applied to every request) over the VU's k6/http. Its request methods block like k6/http's; the
// catalog lists them so the transform awaits them.
import type { ModuleContext } from '../../context.js';
import type { RequestParams } from '../http.js';

type Body = unknown;
type Send = (method: string, url: string, body?: Body, params?: RequestParams) => Promise<unknown>;

export function createHttpxModule(ctx: ModuleContext): Record<string, unknown> {
  const http = ctx.require('k6/http') as { request: Send; batch: (reqs: unknown[]) => Promise<unknown> };

  class Httpx {
    baseURL: string;
    headers: Record<string, string>;
    tags: Record<string, string>;
    timeout: string | number | undefined;

    constructor(opts?: {
      baseURL?: string;
      headers?: Record<string, string>;
      tags?: Record<string, string>;
      timeout?: string | number;
    }) {
      this.baseURL = opts?.baseURL ?? '';
      this.headers = { ...opts?.headers };
      this.tags = { ...opts?.tags };
      this.timeout = opts?.timeout;
    }

    setBaseUrl(url: string): void {
      this.baseURL = url;
    }
    addHeader(name: string, value: string): void {
      this.headers[name] = value;
    }
    addHeaders(headers: Record<string, string>): void {
      Object.assign(this.headers, headers);
    }
    clearHeader(name: string): void {
      delete this.headers[name];
    }
    addTag(name: string, value: string): void {
      this.tags[name] = value;
    }
    addTags(tags: Record<string, string>): void {
      Object.assign(this.tags, tags);
    }
    clearTag(name: string): void {
      delete this.tags[name];
    }

    #url(url: string): string {
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `${this.baseURL}${url}`;
    }
    #params(params: RequestParams | undefined): RequestParams {
      const merged: RequestParams = { ...params };
      merged.headers = { ...this.headers, ...params?.headers };
      merged.tags = { ...this.tags, ...params?.tags };
      if (merged.timeout === undefined && this.timeout !== undefined) merged.timeout = this.timeout;
      return merged;
    }

    request(method: string, url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return http.request(method, this.#url(url), body ?? null, this.#params(params));
    }
    get(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('GET', url, body, params);
    }
    post(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('POST', url, body, params);
    }
    put(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('PUT', url, body, params);
    }
    patch(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('PATCH', url, body, params);
    }
    delete(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('DELETE', url, body, params);
    }
    head(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('HEAD', url, body, params);
    }
    options(url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request('OPTIONS', url, body, params);
    }
    asyncRequest(method: string, url: string, body?: Body, params?: RequestParams): Promise<unknown> {
      return this.request(method, url, body, params);
    }
    batch(
      requests: Array<{ method: string; url: string; body?: Body; params?: RequestParams }>,
      params?: RequestParams,
    ): Promise<unknown> {
      return http.batch(
        requests.map((r) => ({
          method: r.method,
          url: this.#url(r.url),
          body: r.body ?? null,
          params: this.#params({ ...params, ...r.params }),
        })),
      );
    }
  }

  /** httpx's request descriptions for batch(): Get(url, body, params) and kin. */
  const describe = (method: string) => (url: string, body?: Body, params?: RequestParams) => ({
    method,
    url,
    body,
    params,
  });
  const mod: Record<string, unknown> = {
    Httpx,
    Request: (method: string, url: string, body?: Body, params?: RequestParams) => ({ method, url, body, params }),
    Get: describe('GET'),
    Post: describe('POST'),
    Put: describe('PUT'),
    Patch: describe('PATCH'),
    Delete: describe('DELETE'),
  };
  mod.default = mod;
  return mod;
}
