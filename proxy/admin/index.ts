// The admin component's public face: the admin HTTP server and the contract the proxy's
// main process implements for it.
export type {
  AdminHandler,
  AdminHandlerRegistry,
  AdminRequest,
  AdminResponse,
  AdminTarget,
  ClusterStatus,
  HostStatus,
  ListenerStatus,
  ServerInfo,
  ServerState,
} from './types.js';
export { createAdminServer, type AdminLogger, type AdminServer, type AdminServerOptions } from './server.js';
export { renderClustersJson, renderClustersText, renderListenersJson, renderListenersText } from './clusters.js';
export { AdminDuplicateHandlerError, AdminError, AdminInvalidPathError, AdminListenError } from './errors.js';
