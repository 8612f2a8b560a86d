export { nodeResources, nodeNames, findNode, type NodeResources, type MeshNode } from './resources.js';
export {
  renderStaticBootstrap,
  renderDynamicBootstrap,
  XDS_CLUSTER,
  type DynamicBootstrapOptions,
} from './bootstrap.js';
export {
  TYPE_URL,
  configSource,
  type ConfigSourceStyle,
  type Json,
  type JsonObject,
  type ResourceKind,
} from './envoy.js';
