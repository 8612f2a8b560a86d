// Typed errors of the admin component.
import { MeshscopeError } from '../../shared/errors.js';

export class AdminError extends MeshscopeError {}

/** `addHandler` was called twice for one path. */
export class AdminDuplicateHandlerError extends AdminError {
  constructor(path: string) {
    super('MS_ERR_ADMIN_DUPLICATE_HANDLER', `admin handler for '${path}' is already registered`);
  }
}

/** A handler path must start with '/'. */
export class AdminInvalidPathError extends AdminError {
  constructor(path: string) {
    super('MS_ERR_ADMIN_INVALID_PATH', `admin handler path '${path}' must start with '/'`);
  }
}

/** The admin listener could not bind its address. */
export class AdminListenError extends AdminError {
  constructor(host: string, port: number, detail: string) {
    super('MS_ERR_ADMIN_LISTEN', `admin server cannot listen on ${host}:${port}: ${detail}`);
  }
}
