// Typed errors of the proxy's xDS client; `MS_ERR_XDS_*` codes are stable.

export class XdsClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** `dynamic_resources` names a cluster that is not a static cluster with an address. */
export class XdsBootstrapError extends XdsClientError {
  constructor(message: string) {
    super('MS_ERR_XDS_BOOTSTRAP', message);
  }
}
