// The answers of meshscope's own topology and latency endpoints (/api/meshscope/topology,
// /latency, /edge-latency) as they go over the wire: queries.ts builds them, the UI
// (collector/ui/src/api.ts) reads them. Declared once so that the page cannot drift from what the
// server sends; types only, no imports, so the UI's browser bundle and its DOM-only type check
// take it without any of the server's Node code.

/** Requests, errors and server-side latency (merged quantiles) of a node, an edge or a version of either. */
export interface RedFigures {
  requests: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface Topology {
  /**
   * Services (and virtual nodes), with what each served. `versions`: each workload version of
   * the service seen on either end of an edge (service.version), with what it served; empty for
   * virtual nodes and unversioned workloads.
   */
  nodes: Array<{ id: string; versions: Array<{ version: string } & RedFigures> } & RedFigures>;
  /**
   * Calls between services. `versions`: the same calls by the caller's and the server's
   * version ('' where a side has none: a virtual node, an unversioned workload, a lost half),
   * summing to the edge; empty when neither side of any call had a version.
   */
  edges: Array<
    {
      source: string;
      target: string;
      connectionType: string;
      /** What the servers received these calls on (Istio's request_protocol: http, grpc), sorted. */
      protocols: string[];
      /** Every call in the range arrived over mutual TLS (the server's sidecar saw a client certificate). */
      mtls: boolean;
      versions: Array<{ sourceVersion: string; targetVersion: string } & RedFigures>;
    } & RedFigures
  >;
}

export interface LatencyPoint {
  time: string;
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}
