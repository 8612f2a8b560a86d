// The client side of gRPC server reflection (grpc.reflection.v1, falling back to v1alpha as
// older servers only have that): list the services, fetch the files that define them and their
// imports, and hand back a FileDescriptorSet that @grpc/proto-loader turns into method
// definitions, as k6 does with `reflect: true`.
import type * as grpc from '@grpc/grpc-js';
import type * as Protobuf from 'protobufjs';
import { grpcDeps } from './deps.js';

const REFLECTION_PROTO = {
  nested: {
    ServerReflectionRequest: {
      oneofs: { messageRequest: { oneof: ['fileByFilename', 'fileContainingSymbol', 'listServices'] } },
      fields: {
        host: { type: 'string', id: 1 },
        fileByFilename: { type: 'string', id: 3 },
        fileContainingSymbol: { type: 'string', id: 4 },
        listServices: { type: 'string', id: 7 },
      },
    },
    ServerReflectionResponse: {
      fields: {
        validHost: { type: 'string', id: 1 },
        fileDescriptorResponse: { type: 'FileDescriptorResponse', id: 4 },
        listServicesResponse: { type: 'ListServiceResponse', id: 6 },
        errorResponse: { type: 'ErrorResponse', id: 7 },
      },
    },
    FileDescriptorResponse: { fields: { fileDescriptorProto: { rule: 'repeated', type: 'bytes', id: 1 } } },
    ListServiceResponse: { fields: { service: { rule: 'repeated', type: 'ServiceResponse', id: 1 } } },
    ServiceResponse: { fields: { name: { type: 'string', id: 1 } } },
    ErrorResponse: { fields: { errorCode: { type: 'int32', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
  },
};

let types: { request: Protobuf.Type; response: Protobuf.Type } | undefined;

function reflectionTypes(): { request: Protobuf.Type; response: Protobuf.Type } {
  if (types === undefined) {
    const root = grpcDeps().protobuf.Root.fromJSON(REFLECTION_PROTO);
    types = {
      request: root.lookupType('ServerReflectionRequest'),
      response: root.lookupType('ServerReflectionResponse'),
    };
  }
  return types;
}

interface ReflectionResponse {
  fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
  listServicesResponse?: { service: Array<{ name: string }> };
  errorResponse?: { errorCode: number; errorMessage: string };
}

const serialize = (v: Record<string, string>): Buffer => {
  const t = reflectionTypes().request;
  return Buffer.from(t.encode(t.fromObject(v)).finish());
};
const deserialize = (b: Buffer): ReflectionResponse =>
  reflectionTypes().response.decode(b) as unknown as ReflectionResponse;

/** A FileDescriptorProto's name (field 1) and imports (field 3), read without a descriptor schema. */
function fileNameAndDeps(bytes: Uint8Array): { name: string; deps: string[] } {
  const r = grpcDeps().protobuf.Reader.create(bytes);
  let name = '';
  const deps: string[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) name = r.string();
    else if (field === 3 && (tag & 7) === 2) deps.push(r.string());
    else r.skipType(tag & 7);
  }
  return { name, deps };
}

/** Encodes FileDescriptorSet { repeated FileDescriptorProto file = 1 } from the files' bytes. */
function descriptorSet(files: Iterable<Uint8Array>): Buffer {
  const w = grpcDeps().protobuf.Writer.create();
  for (const f of files) w.uint32((1 << 3) | 2).bytes(f);
  return Buffer.from(w.finish());
}

/** One reflection stream: requests go out in turn, each answered before the next. */
async function reflectOver(
  client: grpc.Client,
  path: string,
  metadata: grpc.Metadata,
  deadline: Date,
): Promise<Buffer> {
  const call = client.makeBidiStreamRequest(path, serialize, deserialize, metadata, { deadline });
  const queue: ReflectionResponse[] = [];
  let waiting: { resolve: (r: ReflectionResponse) => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;
  call.on('data', (r: ReflectionResponse) => {
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      w.resolve(r);
    } else queue.push(r);
  });
  const fail = (e: Error): void => {
    failure = e;
    const w = waiting;
    waiting = null;
    w?.reject(e);
  };
  call.on('error', fail);
  call.on('end', () => fail(new Error('the reflection stream ended early')));
  const ask = (req: Record<string, string>): Promise<ReflectionResponse> => {
    if (failure !== null) return Promise.reject(failure);
    call.write(req);
    const next = queue.shift();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject };
    });
  };
  try {
    const list = await ask({ listServices: '' });
    if (list.errorResponse) throw new Error(`reflection: ${list.errorResponse.errorMessage}`);
    const files = new Map<string, Uint8Array>();
    const missing: string[] = [];
    const add = (protos: Uint8Array[]): void => {
      for (const p of protos) {
        const { name, deps } = fileNameAndDeps(p);
        if (files.has(name)) continue;
        files.set(name, p);
        for (const d of deps) if (!files.has(d)) missing.push(d);
      }
    };
    for (const s of list.listServicesResponse?.service ?? []) {
      if (s.name.startsWith('grpc.reflection.')) continue;
      const r = await ask({ fileContainingSymbol: s.name });
      if (r.errorResponse) throw new Error(`reflection: ${s.name}: ${r.errorResponse.errorMessage}`);
      add(r.fileDescriptorResponse?.fileDescriptorProto ?? []);
    }
    for (let dep = missing.shift(); dep !== undefined; dep = missing.shift()) {
      if (files.has(dep)) continue;
      // Some servers name files differently from their importers' import lines and send the
      // dependencies with the file instead; types resolve by full name, so a miss is not fatal.
      const r = await ask({ fileByFilename: dep });
      add(r.fileDescriptorResponse?.fileDescriptorProto ?? []);
    }
    return descriptorSet(files.values());
  } finally {
    call.end();
    call.cancel();
  }
}

const UNIMPLEMENTED = 12;

/** The server's services as a FileDescriptorSet, by reflection v1 or else v1alpha. */
export async function reflect(client: grpc.Client, metadata: grpc.Metadata, deadline: Date): Promise<Buffer> {
  try {
    return await reflectOver(client, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', metadata, deadline);
  } catch (err) {
    if ((err as { code?: number }).code !== UNIMPLEMENTED) throw err;
    return reflectOver(client, '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', metadata, deadline);
  }
}
