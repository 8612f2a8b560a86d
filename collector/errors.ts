// Typed errors of the collector: one base class, one subclass per failure, each with a
// stable MS_ERR_* code that tests, logs and HTTP bodies can rely on.
import { MeshscopeError } from '../shared/errors.js';

export class CollectorError extends MeshscopeError {}

/** Invalid collector options (flags or programmatic config). */
export class CollectorConfigError extends CollectorError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('MS_ERR_COLLECTOR_CONFIG', `invalid collector options:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** An OTLP body that cannot be decoded (HTTP 400, not retryable). */
export class OtlpDecodeError extends CollectorError {
  constructor(message: string) {
    super('MS_ERR_OTLP_DECODE', message);
  }
}

/** An OTLP body above the configured size, compressed or not (HTTP 413). */
export class OtlpPayloadTooLargeError extends CollectorError {
  constructor(limit: number) {
    super('MS_ERR_OTLP_TOO_LARGE', `request body exceeds the ${limit}-byte limit`);
  }
}

/** The pipeline refuses new data: write-ahead log or memory full (HTTP 503, retryable). */
export class CollectorOverloadedError extends CollectorError {
  constructor(message: string) {
    super('MS_ERR_COLLECTOR_OVERLOADED', message);
  }
}

/** A storage operation failed (ClickHouse unreachable, query error). */
export class StorageError extends CollectorError {
  constructor(message: string, cause?: unknown) {
    super('MS_ERR_COLLECTOR_STORAGE', message, { cause });
  }
}

/** The write-ahead log could not be written or read. */
export class WalError extends CollectorError {
  constructor(message: string, cause?: unknown) {
    super('MS_ERR_COLLECTOR_WAL', message, { cause });
  }
}

/** A query API parameter is missing or malformed (HTTP 400). */
export class QueryParamError extends CollectorError {
  constructor(message: string) {
    super('MS_ERR_COLLECTOR_QUERY_PARAM', message);
  }
}
