// Errors of the local-mesh supervisor, one subclass per failure with a stable code.
import { MeshscopeError } from '../shared/errors.js';

export class UpError extends MeshscopeError {}

/** The mesh cannot be run locally as described (unknown app, bad address, missing command). */
export class UpPlanError extends UpError {
  constructor(message: string) {
    super('MS_ERR_UP_PLAN', message);
  }
}

/** A component did not become ready in time. */
export class UpNotReadyError extends UpError {
  constructor(message: string) {
    super('MS_ERR_UP_NOT_READY', message);
  }
}

/** Another `meshscope up` already owns the state directory. */
export class UpAlreadyRunningError extends UpError {
  constructor(message: string) {
    super('MS_ERR_UP_RUNNING', message);
  }
}

/** Ports the mesh needs are taken by other processes. */
export class UpPortInUseError extends UpError {
  constructor(message: string) {
    super('MS_ERR_UP_PORT_IN_USE', message);
  }
}

/** Stopped (Ctrl-C, SIGTERM) before everything was ready. */
export class UpAbortedError extends UpError {
  constructor(message: string) {
    super('MS_ERR_UP_ABORTED', message);
  }
}
