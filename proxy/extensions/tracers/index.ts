// Registers the tracer extensions.
import './opentelemetry/index.js';
import './zipkin/index.js';
