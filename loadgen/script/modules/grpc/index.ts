// k6/net/grpc for one VU: Client, Stream, and k6's status and health-check constants.
import type { ModuleContext } from '../../context.js';
import { createGrpcClientClass, type GrpcMetrics } from './client.js';
import { createGrpcStreamClass } from './stream.js';
import { GRPC_STATUS_CAMEL_NAMES } from '../../../../shared/grpc-status.js';

export function createGrpcModule(ctx: ModuleContext): Record<string, unknown> {
  const r = ctx.test.registry;
  const metrics: GrpcMetrics = {
    reqDuration: r.get('grpc_req_duration', 'trend', 'time'),
    streams: r.get('grpc_streams', 'counter'),
    msgsSent: r.get('grpc_streams_msgs_sent', 'counter'),
    msgsReceived: r.get('grpc_streams_msgs_received', 'counter'),
  };
  const mod: Record<string, unknown> = {
    Client: createGrpcClientClass(ctx, metrics),
    Stream: createGrpcStreamClass(ctx, metrics),
    HealthCheckServing: 'SERVING',
    HealthCheckNotServing: 'NOT_SERVING',
    HealthCheckUnknown: 'UNKNOWN',
    HealthCheckServiceUnkown: 'SERVICE_UNKNOWN',
  };
  GRPC_STATUS_CAMEL_NAMES.forEach((name, code) => {
    mod[`Status${name}`] = code;
  });
  mod.default = mod;
  return mod;
}
