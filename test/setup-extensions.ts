// The proxy loads an extension's module when a configuration first names it (see
// proxy/extensions/catalog.ts), before validating that configuration; tests that validate or
// build configurations synchronously (validateBootstrap, new Worker) need every one loaded.
import '../proxy/extensions/index.js';
