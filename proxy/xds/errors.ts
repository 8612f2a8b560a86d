// Typed errors of the proxy's xDS client; `MS_ERR_XDS_*` codes are stable.
import { MeshscopeError } from '../../shared/errors.js';

export class XdsClientError extends MeshscopeError {}

/** `dynamic_resources` names a cluster that is not a static cluster with an address. */
export class XdsBootstrapError extends XdsClientError {
  constructor(message: string) {
    super('MS_ERR_XDS_BOOTSTRAP', message);
  }
}
