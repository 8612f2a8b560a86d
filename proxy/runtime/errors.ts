// Typed runtime errors: one base class, one subclass per failure, each with a stable code.
import { ProxyError } from '../errors.js';

export class RuntimeError extends ProxyError {}

/** `layered_runtime` failed validation; `issues` lists every problem with its full path. */
export class RuntimeConfigError extends RuntimeError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('MS_ERR_RUNTIME_CONFIG', `invalid runtime configuration:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** `/runtime_modify` was called but the bootstrap declares no `admin_layer`. */
export class RuntimeNoAdminLayerError extends RuntimeError {
  constructor() {
    super('MS_ERR_RUNTIME_NO_ADMIN_LAYER', 'No admin layer specified');
  }
}

/** A disk layer's directory tree could not be read (too deep, unreadable file). */
export class RuntimeDiskLayerError extends RuntimeError {
  constructor(path: string, reason: string) {
    super('MS_ERR_RUNTIME_DISK_LAYER', `cannot load runtime disk layer ${path}: ${reason}`);
  }
}
