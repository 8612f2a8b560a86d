// The workloads' certificates as the control plane serves them over SDS: one SVID per node
// (sidecar or ingress), issued before the node's first configuration is served and re-issued at
// half its lifetime (Istio's grace ratio), each time pushed as the node's `default` secret.
// A node whose identity changes (a new service account) gets a new certificate at once.
import type { JsonObject } from '../translate/envoy.js';
import type { IssuedSvid, MeshCA } from './ca.js';
import { workloadSecrets } from './sds.js';
import { spiffeId, type WorkloadIdentity } from './spiffe.js';

interface Held {
  readonly id: string;
  readonly svid: IssuedSvid;
  readonly secrets: ReadonlyMap<string, JsonObject>;
  readonly timer: NodeJS.Timeout;
}

const NONE: ReadonlyMap<string, JsonObject> = new Map();

export interface WorkloadCertificatesOptions {
  /** SVID lifetime; the CA's default (1 h) when absent. */
  ttlMs?: number;
  /** A node's certificate was re-issued (rotation): its SDS resources changed. */
  onRotate(nodeId: string): void;
  /** A re-issue failed; the current certificate stays until the next attempt. */
  onError?(nodeId: string, err: Error): void;
}

export class WorkloadCertificates {
  readonly ca: MeshCA;
  readonly #options: WorkloadCertificatesOptions;
  readonly #held = new Map<string, Held>();
  #closed = false;

  constructor(ca: MeshCA, options: WorkloadCertificatesOptions) {
    this.ca = ca;
    this.#options = options;
  }

  /** Issues a certificate to every node that lacks one for its identity; resolves once all are held. */
  async ensure(nodes: ReadonlyArray<{ nodeId: string; identity: WorkloadIdentity }>): Promise<void> {
    await Promise.all(
      nodes.map(async ({ nodeId, identity }) => {
        const id = spiffeId(this.ca.trustDomain, identity);
        if (this.#held.get(nodeId)?.id === id) return;
        await this.#issue(nodeId, identity);
      }),
    );
  }

  /** The node's SDS resources by name (`default`), empty until issued. */
  secrets(nodeId: string): ReadonlyMap<string, JsonObject> {
    return this.#held.get(nodeId)?.secrets ?? NONE;
  }

  /** The certificate a node holds now, for inspection. */
  svid(nodeId: string): IssuedSvid | undefined {
    return this.#held.get(nodeId)?.svid;
  }

  close(): void {
    this.#closed = true;
    for (const h of this.#held.values()) clearTimeout(h.timer);
    this.#held.clear();
  }

  async #issue(nodeId: string, identity: WorkloadIdentity): Promise<void> {
    const svid = await this.ca.issue(identity, this.#options.ttlMs === undefined ? {} : { ttlMs: this.#options.ttlMs });
    if (this.#closed) return;
    const previous = this.#held.get(nodeId);
    if (previous !== undefined) clearTimeout(previous.timer);
    // Only the workload's own certificate goes over SDS: the root is the listeners' trusted_ca.
    const [certificate] = workloadSecrets(svid, this.ca.rootCertificatePem);
    const timer = setTimeout(
      () => {
        this.#issue(nodeId, identity).then(
          () => this.#options.onRotate(nodeId),
          (err: Error) => this.#options.onError?.(nodeId, err),
        );
      },
      Math.max(0, svid.rotateAt.getTime() - Date.now()),
    );
    timer.unref();
    this.#held.set(nodeId, {
      id: svid.spiffeId,
      svid,
      secrets: new Map([[certificate.name, certificate as unknown as JsonObject]]),
      timer,
    });
  }
}
