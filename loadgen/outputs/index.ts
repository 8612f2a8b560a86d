// Loads every output module so each registers itself.
import './json/index.js';
import './otlp/index.js';

export { outputFactory, outputNames, type Output } from './output.js';
