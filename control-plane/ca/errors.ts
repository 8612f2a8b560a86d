import { ControlPlaneError } from '../errors.js';

/** Certificate material the CA cannot use: it names which file or field and why. */
export class CaMaterialError extends ControlPlaneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MS_ERR_CA_MATERIAL', message, options);
  }
}

/** An identity that is not a valid SPIFFE ID path (namespace, service account, trust domain). */
export class SpiffeIdError extends ControlPlaneError {
  constructor(message: string) {
    super('MS_ERR_SPIFFE_ID', message);
  }
}
