// Registers the built-in extensions. Each module registers itself on import; adding an
// extension means adding its import here, never editing the core.
import './filters/network/http_connection_manager/index.js';
import './filters/network/connection_limit/index.js';
import './filters/network/direct_response/index.js';
import './filters/network/tcp_proxy/config.js';
import './filters/network/rbac/index.js';
import './filters/listener/tls_inspector/index.js';
import './filters/listener/http_inspector/index.js';
import './filters/http/router/config.js';
import './filters/http/health_check/config.js';
import './filters/http/fault/index.js';
import './filters/http/local_ratelimit/index.js';
import './filters/http/rbac/index.js';
import './filters/http/grpc_stats/index.js';
import './filters/http/grpc_web/index.js';
import './filters/http/ext_authz/index.js';
import './clusters/static/index.js';
import './clusters/strict_dns/index.js';
import './clusters/logical_dns/index.js';
import './access_loggers/index.js';
import './tracers/index.js';
import '../telemetry/istio/filter.js';
import '../telemetry/istio/tcp-filter.js';
