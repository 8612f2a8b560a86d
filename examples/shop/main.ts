// Entry point of one shop service process, configured by environment (what `meshscope up`
// and docker compose set):
//   SHOP_SERVICE    frontend | catalog | cart | checkout | payment | inventory
//   SHOP_LISTEN     ip:port the app listens on (the workload's endpoint in the mesh)
//   SHOP_EGRESS     ip:port of the local sidecar's outbound listener
//   SHOP_GRPC_LISTEN  ip:port for the service's gRPC methods (payment's Charge); none when unset
//   SHOP_VERSION    version label (default v1); SHOP_INSTANCE workload name (default service-version)
//   OTEL_EXPORTER_OTLP_ENDPOINT   collector base URL (default http://127.0.0.1:4318)
//   SHOP_LATENCY_MS, SHOP_JITTER_MS, SHOP_ERROR_PERCENT, SHOP_BEHAVIOR   see behavior.ts
import { applyBehavior } from './behavior.js';
import { ShopError } from './errors.js';
import { isShopService, SHOP, SHOP_SERVICES } from './shop.js';
import { startTelemetry } from './telemetry.js';

function hostPort(name: string, raw: string | undefined): { host: string; port: number } {
  const m = /^([^:]+):(\d{1,5})$/.exec(raw ?? '');
  if (m === null || Number(m[2]) > 65535)
    throw new ShopError('MS_ERR_SHOP_ENV', `${name}=${raw ?? ''}: expected host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

async function main(env: NodeJS.ProcessEnv): Promise<void> {
  const service = env['SHOP_SERVICE'] ?? '';
  if (!isShopService(service))
    throw new ShopError('MS_ERR_SHOP_SERVICE', `SHOP_SERVICE=${service}: expected one of ${SHOP_SERVICES.join(', ')}`);
  const listen = hostPort('SHOP_LISTEN', env['SHOP_LISTEN']);
  const egress = hostPort('SHOP_EGRESS', env['SHOP_EGRESS']);
  const grpcListen =
    env['SHOP_GRPC_LISTEN'] === undefined || env['SHOP_GRPC_LISTEN'] === ''
      ? undefined
      : hostPort('SHOP_GRPC_LISTEN', env['SHOP_GRPC_LISTEN']);
  const endpoints = applyBehavior(SHOP[service], env);
  const version = env['SHOP_VERSION'] ?? 'v1';
  const telemetry = startTelemetry({
    service,
    version,
    instance: env['SHOP_INSTANCE'] ?? `${service}-${version}`,
    otlpEndpoint: (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? 'http://127.0.0.1:4318').replace(/\/$/, ''),
  });
  // After the SDK patched http, so the service's server and client calls are instrumented.
  const { startShopService } = await import('./service.js');
  const running = await startShopService({
    service,
    version,
    listen,
    egress,
    endpoints,
    tracer: telemetry.tracer,
    ...(grpcListen === undefined ? {} : { grpcListen }),
  });
  const grpcNote =
    running.grpcAddress === null ? '' : `, gRPC on ${running.grpcAddress.host}:${running.grpcAddress.port}`;
  process.stdout.write(
    `shop ${service} ${version} listening on ${running.address.host}:${running.address.port}, egress ${egress.host}:${egress.port}${grpcNote}\n`,
  );

  const stop = (): void => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    void running
      .close()
      .then(() => telemetry.shutdown())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.env).catch((err: unknown) => {
  process.stderr.write(
    `shop: ${err instanceof ShopError ? `${err.code}: ${err.message}` : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
