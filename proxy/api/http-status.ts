// envoy.type.v3.HttpStatus: a status code as Envoy's JSON spells it, by enum name
// (`Forbidden`) or by number (403). Numbers outside the enum are refused, as Envoy refuses them.
import { z } from 'zod';

/** envoy.type.v3.StatusCode, name → code. */
export const HTTP_STATUS_CODES: Readonly<Record<string, number>> = {
  Continue: 100,
  OK: 200,
  Created: 201,
  Accepted: 202,
  NonAuthoritativeInformation: 203,
  NoContent: 204,
  ResetContent: 205,
  PartialContent: 206,
  MultiStatus: 207,
  AlreadyReported: 208,
  IMUsed: 226,
  MultipleChoices: 300,
  MovedPermanently: 301,
  Found: 302,
  SeeOther: 303,
  NotModified: 304,
  UseProxy: 305,
  TemporaryRedirect: 307,
  PermanentRedirect: 308,
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  ProxyAuthenticationRequired: 407,
  RequestTimeout: 408,
  Conflict: 409,
  Gone: 410,
  LengthRequired: 411,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  URITooLong: 414,
  UnsupportedMediaType: 415,
  RangeNotSatisfiable: 416,
  ExpectationFailed: 417,
  MisdirectedRequest: 421,
  UnprocessableEntity: 422,
  Locked: 423,
  FailedDependency: 424,
  UpgradeRequired: 426,
  PreconditionRequired: 428,
  TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  NotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
  HTTPVersionNotSupported: 505,
  VariantAlsoNegotiates: 506,
  InsufficientStorage: 507,
  LoopDetected: 508,
  NotExtended: 510,
  NetworkAuthenticationRequired: 511,
};

const KNOWN_CODES = new Set(Object.values(HTTP_STATUS_CODES));

/** A StatusCode value (name or number) → its number; undefined when it is none of the enum's. */
export function httpStatusCode(value: string | number): number | undefined {
  const code = typeof value === 'number' ? value : HTTP_STATUS_CODES[value];
  return code !== undefined && KNOWN_CODES.has(code) ? code : undefined;
}

export const httpStatusSchema = z.strictObject({
  code: z.union([z.string(), z.number().int()]).transform((v, ctx) => {
    const code = httpStatusCode(v);
    if (code === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${v}' is not an envoy.type.v3.StatusCode (e.g. Forbidden or 403)` });
      return z.NEVER;
    }
    return code;
  }),
});
