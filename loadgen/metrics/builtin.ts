// k6's built-in metrics, created once per test so the hot path holds direct references.
import type { Metric, MetricRegistry } from './registry.js';

export interface BuiltinMetrics {
  readonly checks: Metric;
  readonly dataReceived: Metric;
  readonly dataSent: Metric;
  readonly droppedIterations: Metric;
  readonly groupDuration: Metric;
  readonly httpReqBlocked: Metric;
  readonly httpReqConnecting: Metric;
  readonly httpReqDuration: Metric;
  /** Open-model scenarios only: latency from the actual send, beside the corrected http_req_duration. */
  readonly httpReqDurationUncorrected: Metric;
  readonly httpReqFailed: Metric;
  readonly httpReqReceiving: Metric;
  readonly httpReqSending: Metric;
  readonly httpReqTlsHandshaking: Metric;
  readonly httpReqWaiting: Metric;
  readonly httpReqs: Metric;
  readonly iterationDuration: Metric;
  readonly iterations: Metric;
  readonly vus: Metric;
  readonly vusMax: Metric;
}

export const HTTP_REQ_DURATION_UNCORRECTED = 'http_req_duration_uncorrected';

export function registerBuiltinMetrics(r: MetricRegistry): BuiltinMetrics {
  // k6 always reports the duration of requests with expected statuses beside the overall one.
  r.get('http_req_duration', 'trend', 'time').submetric([['expected_response', 'true']]);
  return {
    checks: r.get('checks', 'rate'),
    dataReceived: r.get('data_received', 'counter', 'data'),
    dataSent: r.get('data_sent', 'counter', 'data'),
    droppedIterations: r.get('dropped_iterations', 'counter'),
    groupDuration: r.get('group_duration', 'trend', 'time'),
    httpReqBlocked: r.get('http_req_blocked', 'trend', 'time'),
    httpReqConnecting: r.get('http_req_connecting', 'trend', 'time'),
    httpReqDuration: r.get('http_req_duration', 'trend', 'time'),
    httpReqDurationUncorrected: r.get(HTTP_REQ_DURATION_UNCORRECTED, 'trend', 'time'),
    httpReqFailed: r.get('http_req_failed', 'rate'),
    httpReqReceiving: r.get('http_req_receiving', 'trend', 'time'),
    httpReqSending: r.get('http_req_sending', 'trend', 'time'),
    httpReqTlsHandshaking: r.get('http_req_tls_handshaking', 'trend', 'time'),
    httpReqWaiting: r.get('http_req_waiting', 'trend', 'time'),
    httpReqs: r.get('http_reqs', 'counter'),
    iterationDuration: r.get('iteration_duration', 'trend', 'time'),
    iterations: r.get('iterations', 'counter'),
    vus: r.get('vus', 'gauge'),
    vusMax: r.get('vus_max', 'gauge'),
  };
}
