// Envoy's real v3 API as protobufjs types: the .proto files shipped by @grpc/grpc-js-xds
// (envoy-api, xds/udpa, googleapis, protoc-gen-validate), with the few newer definitions
// meshscope speaks from ./overlay (searched first, see overlay/README.md). Nothing is read until
// the first xDS message is encoded or decoded: a proxy on a static bootstrap never pays for it.
// Parsing the .proto files took 0.3-1.9 s of CPU on the shared 2-core machine (+4 MB heap);
// `npm run build` therefore writes their descriptor as JSON next to the compiled module
// (envoy-api.json, 215 KB), which loads in a quarter of that. The JSON keeps every type, field,
// number and enum the codec needs but not the parsed validate options, so the conformance tests
// parse the .proto files (`loadProtoRoot`); a run from source without a build parses them too.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The messages xDS carries and the extensions meshscope implements, by defining file. */
export const ENVOY_API_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/runtime/v3/rtds.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto',
  'envoy/extensions/filters/network/direct_response/v3/config.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'xds/type/v3/typed_struct.proto',
  'udpa/type/v1/typed_struct.proto',
  'stats/config.proto',
];

/** The bootstrap and everything it references: only the API conformance tests need it. */
export const BOOTSTRAP_FILE = 'envoy/config/bootstrap/v3/bootstrap.proto';

export class EnvoyApiLoadError extends Error {
  readonly code = 'MS_ERR_XDS_PROTO_LOAD';
  constructor(message: string) {
    super(message);
    this.name = 'EnvoyApiLoadError';
  }
}

/** The package root: the nearest directory up from this module holding package.json (source, dist and bundles alike). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new EnvoyApiLoadError(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Where imports are searched, in order: the overlay, then the package's dependency trees. */
export function protoIncludeDirs(): string[] {
  const root = packageRoot();
  const require = createRequire(path.join(root, 'package.json'));
  let deps: string;
  try {
    deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  } catch (err) {
    throw new EnvoyApiLoadError(`@grpc/grpc-js-xds (Envoy's API protos) is not installed: ${(err as Error).message}`);
  }
  return [
    path.join(root, 'proxy', 'xds', 'proto', 'overlay'),
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/*.proto (descriptor.proto for the option extensions among them).
    path.dirname(require.resolve('protobufjs/package.json')),
  ];
}

/** Parses `files` (import paths such as `envoy/config/cluster/v3/cluster.proto`) and what they import. */
export function loadProtoRoot(files: readonly string[]): protobuf.Root {
  const dirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const d of dirs) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    throw new EnvoyApiLoadError(`${target}: not found in ${dirs.join(', ')}`);
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

/** The descriptor `npm run build` writes (build-descriptor.ts): the parsed API as protobufjs JSON. */
export function envoyApiDescriptor(): protobuf.INamespace {
  return loadProtoRoot(ENVOY_API_FILES).toJSON();
}

export const DESCRIPTOR_FILE = 'envoy-api.json';

let shared: protobuf.Root | undefined;

/** The Envoy API root the xDS codec uses, loaded on first use (the built descriptor when present). */
export function envoyApi(): protobuf.Root {
  if (shared !== undefined) return shared;
  const built = fileURLToPath(new URL(DESCRIPTOR_FILE, import.meta.url));
  if (fs.existsSync(built)) {
    shared = protobuf.Root.fromJSON(JSON.parse(fs.readFileSync(built, 'utf8')) as protobuf.INamespace);
    shared.resolveAll();
  } else shared = loadProtoRoot(ENVOY_API_FILES);
  return shared;
}
