// Typed errors of the proxy component: one base class, one subclass per failure, each with a
// stable `MS_ERR_*` code so callers and tests match on codes, never on message text.
import { MeshscopeError } from '../shared/errors.js';

export class ProxyError extends MeshscopeError {}

/** The bootstrap (or an xDS resource) failed validation; `problems` lists every error with its path. */
export class ConfigInvalidError extends ProxyError {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super('MS_ERR_CONFIG_INVALID', `invalid configuration ${source}:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** The configuration file could not be read or parsed as YAML/JSON. */
export class ConfigReadError extends ProxyError {
  constructor(source: string, reason: string) {
    super('MS_ERR_CONFIG_READ', `cannot read configuration ${source}: ${reason}`);
  }
}

/** Two extensions registered under the same name or type URL. */
export class DuplicateExtensionError extends ProxyError {
  constructor(category: string, key: string) {
    super('MS_ERR_DUPLICATE_EXTENSION', `${category} extension '${key}' is already registered`);
  }
}

/**
 * A configuration named an extension whose module was not loaded first: the caller validated or
 * built it without awaiting `loadExtensionsFor` (proxy/extensions/catalog.ts).
 */
export class ExtensionNotLoadedError extends ProxyError {
  constructor(category: string, key: string) {
    super(
      'MS_ERR_EXTENSION_NOT_LOADED',
      `${category} extension '${key}' is declared but its module is not loaded: await loadExtensionsFor(config) before validating`,
    );
  }
}

/** A listener or admin address could not be bound. */
export class ListenerBindError extends ProxyError {
  constructor(listener: string, address: string, reason: string) {
    super('MS_ERR_LISTENER_BIND', `listener '${listener}' cannot bind ${address}: ${reason}`);
  }
}

/** A worker process died or did not answer the main process. */
export class WorkerError extends ProxyError {
  constructor(reason: string) {
    super('MS_ERR_WORKER', reason);
  }
}

/** An SDS update a TLS context refused (it keeps its last good secret): each `<field>: <why>`. */
export class SecretRefusedError extends ProxyError {
  readonly reasons: readonly string[];
  constructor(reasons: readonly string[]) {
    super('MS_ERR_SECRET_REFUSED', reasons.join('; '));
    this.reasons = reasons;
  }
}

/** TLS material (a certificate, key or CA bundle) that cannot serve: names the field and why. */
export class TlsMaterialError extends ProxyError {
  readonly field: string;
  constructor(field: string, reason: string) {
    super('MS_ERR_TLS_MATERIAL', `${field}: ${reason}`);
    this.field = field;
  }
}
