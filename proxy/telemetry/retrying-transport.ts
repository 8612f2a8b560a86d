// The SDK's retry policy for OTLP exports (otlp-exporter-base's RetryingTransport, which its
// public API only applies inside its own HTTP delegate): up to 5 retries of a retryable
// response, backing off from 1 s by 1.5x up to 5 s with ±20% jitter, or after the server's
// Retry-After, never past the export's timeout.
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';

const MAX_RETRIES = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

export class RetryingTransport implements IExporterTransport {
  readonly #transport: IExporterTransport;

  constructor(transport: IExporterTransport) {
    this.#transport = transport;
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const deadline = Date.now() + timeoutMillis;
    let nextBackoff = INITIAL_BACKOFF_MS;
    let result = await this.#transport.send(data, timeoutMillis);
    for (let retries = 0; result.status === 'retryable' && retries < MAX_RETRIES; retries++) {
      const backoff = Math.max(Math.min(nextBackoff * (1 + (Math.random() * 2 - 1) * JITTER), MAX_BACKOFF_MS), 0);
      nextBackoff *= BACKOFF_MULTIPLIER;
      const waitMs = result.retryInMillis ?? backoff;
      const remaining = deadline - Date.now();
      if (waitMs > remaining) return result;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      result = await this.#transport.send(data, Math.max(1, deadline - Date.now()));
    }
    return result;
  }

  shutdown(): void {
    this.#transport.shutdown();
  }
}
