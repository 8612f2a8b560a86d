// The layered runtime: Envoy's `layered_runtime` (static, disk and admin layers, later layers
// win), read on the request path through an immutable snapshot swapped on every change.
export { parseLayeredRuntime } from './parse.js';
export {
  layeredRuntimeSchema,
  DEFAULT_LAYERED_RUNTIME,
  fractionalPercentSchema,
  runtimeFractionalPercentSchema,
} from '../api/runtime.js';
export type { LayeredRuntimeConfig, RuntimeLayerConfig, DiskLayerConfig } from '../api/runtime.js';
export {
  RuntimeSnapshot,
  createEntry,
  fractionFromValue,
  randomUint32,
} from './snapshot.js';
export type {
  FractionalPercent,
  FractionalPercentDenominator,
  RuntimeFractionalPercent,
  RuntimeEntry,
  RuntimeLayerValues,
} from './snapshot.js';
export { LayeredRuntime, RuntimeReplica, snapshotToWire, snapshotFromWire } from './loader.js';
export type { Runtime, RuntimeSnapshotWire, LayeredRuntimeOptions } from './loader.js';
export { registerRuntimeAdminHandlers, runtimeDump } from './admin.js';
export type { RuntimeDump } from './admin.js';
export { RuntimeError, RuntimeConfigError, RuntimeNoAdminLayerError, RuntimeDiskLayerError } from './errors.js';
