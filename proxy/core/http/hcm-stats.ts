// `http.<stat_prefix>.*` stats of one connection manager, looked up once at config time.
import type { Counter, Gauge, Histogram, Scope } from '../../stats/types.js';
import { Http2CodecStats } from './codec/http2/protocol-constraints.js';

export class HcmStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_http1_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_http1_active: Gauge;
  readonly downstream_cx_http2_total: Counter;
  readonly downstream_cx_http2_active: Gauge;
  readonly downstream_cx_destroy: Counter;
  readonly downstream_cx_destroy_remote: Counter;
  readonly downstream_cx_destroy_local: Counter;
  readonly downstream_cx_protocol_error: Counter;
  readonly downstream_cx_idle_timeout: Counter;
  readonly downstream_cx_drain_close: Counter;
  readonly downstream_cx_upgrades_total: Counter;
  readonly downstream_cx_upgrades_active: Gauge;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_rq_total: Counter;
  readonly downstream_rq_http1_total: Counter;
  readonly downstream_rq_http2_total: Counter;
  /** The HTTP/2 codec's `http2.*` stats (at the root, as Envoy's listener-scoped codec stats are). */
  readonly http2: Http2CodecStats;
  readonly downstream_rq_active: Gauge;
  readonly downstream_rq_completed: Counter;
  readonly downstream_rq_rx_reset: Counter;
  readonly downstream_rq_tx_reset: Counter;
  readonly downstream_rq_header_timeout: Counter;
  readonly downstream_rq_idle_timeout: Counter;
  readonly downstream_rq_max_duration_reached: Counter;
  readonly downstream_rq_timeout: Counter;
  readonly downstream_rq_ws_on_non_ws_route: Counter;
  readonly downstream_rq_time: Histogram;
  /** A filter (the router, for an upstream that is backed up) stopped (resumed) reading a request. */
  readonly downstream_flow_control_paused_reading_total: Counter;
  readonly downstream_flow_control_resumed_reading_total: Counter;
  readonly #byClass: Counter[];

  constructor(root: Scope, statPrefix: string) {
    const s = root.scope(`http.${statPrefix}`);
    this.downstream_cx_total = s.counter('downstream_cx_total');
    this.downstream_cx_http1_total = s.counter('downstream_cx_http1_total');
    this.downstream_cx_active = s.gauge('downstream_cx_active');
    this.downstream_cx_http1_active = s.gauge('downstream_cx_http1_active');
    this.downstream_cx_http2_total = s.counter('downstream_cx_http2_total');
    this.downstream_cx_http2_active = s.gauge('downstream_cx_http2_active');
    this.downstream_cx_destroy = s.counter('downstream_cx_destroy');
    this.downstream_cx_destroy_remote = s.counter('downstream_cx_destroy_remote');
    this.downstream_cx_destroy_local = s.counter('downstream_cx_destroy_local');
    this.downstream_cx_protocol_error = s.counter('downstream_cx_protocol_error');
    this.downstream_cx_idle_timeout = s.counter('downstream_cx_idle_timeout');
    this.downstream_cx_drain_close = s.counter('downstream_cx_drain_close');
    this.downstream_cx_upgrades_total = s.counter('downstream_cx_upgrades_total');
    this.downstream_cx_upgrades_active = s.gauge('downstream_cx_upgrades_active');
    this.downstream_cx_rx_bytes_total = s.counter('downstream_cx_rx_bytes_total');
    this.downstream_cx_tx_bytes_total = s.counter('downstream_cx_tx_bytes_total');
    this.downstream_rq_total = s.counter('downstream_rq_total');
    this.downstream_rq_http1_total = s.counter('downstream_rq_http1_total');
    this.downstream_rq_http2_total = s.counter('downstream_rq_http2_total');
    this.http2 = new Http2CodecStats(root, s);
    this.downstream_rq_active = s.gauge('downstream_rq_active');
    this.downstream_rq_completed = s.counter('downstream_rq_completed');
    this.downstream_rq_rx_reset = s.counter('downstream_rq_rx_reset');
    this.downstream_rq_tx_reset = s.counter('downstream_rq_tx_reset');
    this.downstream_rq_header_timeout = s.counter('downstream_rq_header_timeout');
    this.downstream_rq_idle_timeout = s.counter('downstream_rq_idle_timeout');
    this.downstream_rq_max_duration_reached = s.counter('downstream_rq_max_duration_reached');
    this.downstream_rq_timeout = s.counter('downstream_rq_timeout');
    this.downstream_rq_ws_on_non_ws_route = s.counter('downstream_rq_ws_on_non_ws_route');
    this.downstream_rq_time = s.histogram('downstream_rq_time', 'milliseconds');
    this.downstream_flow_control_paused_reading_total = s.counter('downstream_flow_control_paused_reading_total');
    this.downstream_flow_control_resumed_reading_total = s.counter('downstream_flow_control_resumed_reading_total');
    this.#byClass = [1, 2, 3, 4, 5].map((c) => s.counter(`downstream_rq_${c}xx`));
  }

  recordResponseClass(status: number): void {
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) this.#byClass[cls - 1]!.inc();
  }
}
