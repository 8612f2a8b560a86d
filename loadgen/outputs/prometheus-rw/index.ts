// Registers --out experimental-prometheus-rw (k6's name for its Prometheus remote-write output).
import { registerOutput } from '../output.js';

registerOutput(
  'experimental-prometheus-rw',
  async (arg, params) => new (await import('./output.js')).PrometheusRemoteWriteOutput(arg, params.env),
);
