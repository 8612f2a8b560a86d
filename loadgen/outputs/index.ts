// Loads every output module so each registers itself.
import './json/index.js';
import './otlp/index.js';
import './csv/index.js';
import './prometheus-rw/index.js';

export { outputFactory, outputNames, type Output, type OutputParams } from './output.js';
