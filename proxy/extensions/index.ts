// Loads every built-in extension now. The proxy itself loads only those its configuration
// names (proxy/extensions/catalog.ts); this is for tests and tools that validate arbitrary
// configurations synchronously.
import { loadAllExtensions } from './catalog.js';

await loadAllExtensions();
