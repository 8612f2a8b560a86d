// Typed errors of the control plane: one base class, one subclass per failure, each with a
// stable `MS_ERR_*` code so callers (CLI, tests, the xDS server's logs) branch on codes.
import { MeshscopeError } from '../shared/errors.js';

export class ControlPlaneError extends MeshscopeError {}

/** One problem in a mesh description, located by its dotted/indexed path (`services[1].ports[0].port`). */
export interface MeshIssue {
  path: string;
  message: string;
}

/** The mesh file is not YAML, or it fails the schema or cross-reference checks. Lists every issue. */
export class MeshValidationError extends ControlPlaneError {
  readonly issues: readonly MeshIssue[];
  constructor(source: string, issues: readonly MeshIssue[]) {
    super(
      'MS_ERR_MESH_INVALID',
      `${source}: invalid mesh description:\n` +
        issues.map((i) => `  ${i.path === '' ? '(root)' : i.path}: ${i.message}`).join('\n'),
    );
    this.issues = issues;
  }
}

/** The mesh file could not be read. */
export class MeshReadError extends ControlPlaneError {
  constructor(path: string, cause: unknown) {
    super(
      'MS_ERR_MESH_READ',
      `${path}: cannot read mesh description: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** `render --node NAME` named no sidecar or ingress of the mesh. */
export class UnknownNodeError extends ControlPlaneError {
  constructor(node: string, known: readonly string[]) {
    super(
      'MS_ERR_UNKNOWN_NODE',
      `node '${node}' is not a workload or ingress of the mesh (known: ${known.join(', ')})`,
    );
  }
}

/** A DiscoveryRequest that cannot be served (bad JSON, unknown type URL, missing node). */
export class DiscoveryRequestError extends ControlPlaneError {
  constructor(message: string) {
    super('MS_ERR_XDS_BAD_REQUEST', message);
  }
}

/** A mesh with mutual TLS rendered without the mesh CA (a static bootstrap): certificates come from the control plane. */
export class MtlsNeedsCaError extends ControlPlaneError {
  constructor(what: string) {
    super(
      'MS_ERR_MTLS_NEEDS_CA',
      `${what}: mtls is on, and certificates come from the control plane's CA over SDS; use a dynamic bootstrap (control-plane bootstrap) or set mtls: DISABLE`,
    );
  }
}
