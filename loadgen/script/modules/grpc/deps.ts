// @grpc/grpc-js, @grpc/proto-loader and protobufjs, loaded on first use: together they take
// ~150 ms to load, which a script that never imports k6/net/grpc should not pay.
import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';

export interface GrpcDeps {
  readonly grpc: typeof GrpcJs;
  readonly protoLoader: typeof ProtoLoader;
  readonly protobuf: typeof Protobuf;
}

let deps: GrpcDeps | undefined;

export function grpcDeps(): GrpcDeps {
  if (deps === undefined) {
    const require = createRequire(import.meta.url);
    deps = {
      grpc: require('@grpc/grpc-js') as typeof GrpcJs,
      protoLoader: require('@grpc/proto-loader') as typeof ProtoLoader,
      protobuf: require('protobufjs') as typeof Protobuf,
    };
  }
  return deps;
}
