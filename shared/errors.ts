// The one error base class of meshscope. Each component declares its own subclass of it
// (`ProxyError`, `CollectorError`, …) and one subclass per failure under that, each with a
// stable `MS_ERR_*` code: callers, tests, logs and HTTP bodies branch on `code`, never on
// message text, and `instanceof MeshscopeError` tells our failures from foreign ones.

export class MeshscopeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The concrete subclass's name, so logs and stack traces say `ConfigInvalidError: …`.
    this.name = new.target.name;
    this.code = code;
  }
}
