// Registers the access logger extensions.
import './file/index.js';
import './stream/index.js';
import './open_telemetry/index.js';
