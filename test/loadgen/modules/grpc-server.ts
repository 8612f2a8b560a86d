// A real @grpc/grpc-js server for the k6/net/grpc tests: a greeter with unary, server-streaming,
// client-streaming and bidirectional methods, the health service, and optionally server
// reflection (grpc.reflection.v1alpha, answered from the files proto-loader parsed).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';

export const COMMON_PROTO = `syntax = "proto3";
package demo.common;
message Number { int64 value = 1; }
enum Mood { MOOD_UNSPECIFIED = 0; HAPPY = 1; GRUMPY = 2; }
`;

export const GREETER_PROTO = `syntax = "proto3";
package demo;
import "common/common.proto";
message HelloRequest { string name = 1; demo.common.Mood mood = 2; }
message HelloReply { string message = 1; demo.common.Mood mood = 2; int32 unset_count = 3; }
message Range { int32 from = 1; int32 to = 2; }
message Total { int64 sum = 1; int32 count = 2; }
service Greeter {
  rpc SayHello(HelloRequest) returns (HelloReply);
  rpc ListNumbers(Range) returns (stream demo.common.Number);
  rpc Sum(stream demo.common.Number) returns (Total);
  rpc Chat(stream HelloRequest) returns (stream HelloReply);
}
`;

const REFLECTION = {
  nested: {
    Req: {
      fields: {
        host: { type: 'string', id: 1 },
        fileByFilename: { type: 'string', id: 3 },
        fileContainingSymbol: { type: 'string', id: 4 },
        listServices: { type: 'string', id: 7 },
      },
    },
    Res: {
      fields: {
        fileDescriptorResponse: { type: 'Files', id: 4 },
        listServicesResponse: { type: 'Services', id: 6 },
        errorResponse: { type: 'Err', id: 7 },
      },
    },
    Files: { fields: { fileDescriptorProto: { rule: 'repeated', type: 'bytes', id: 1 } } },
    Services: { fields: { service: { rule: 'repeated', type: 'Svc', id: 1 } } },
    Svc: { fields: { name: { type: 'string', id: 1 } } },
    Err: { fields: { errorCode: { type: 'int32', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
  },
};

type Msg = Record<string, unknown>;

export interface GreeterServer {
  address: string;
  /** Metadata the last SayHello received, by key. */
  lastMetadata: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startGreeter(protoDir: string, withReflection: boolean): Promise<GreeterServer> {
  const def = protoLoader.loadSync('greeter.proto', {
    includeDirs: [protoDir],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
  });
  const greeter = def['demo.Greeter'] as grpc.ServiceDefinition;
  const server = new grpc.Server();
  const state: GreeterServer = { address: '', lastMetadata: {}, stop: async () => {} };
  server.addService(greeter, {
    SayHello: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const name = String(call.request.name);
      // Never answered: the client has to give up (its deadline, or an interrupted VU).
      if (name === 'hang') return;
      if (name === '') {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'name is required' });
        return;
      }
      state.lastMetadata = call.metadata.getMap();
      call.sendMetadata(new grpc.Metadata());
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', 'greeter');
      cb(null, { message: `hello ${name}`, mood: call.request.mood === 'GRUMPY' ? 'HAPPY' : 'GRUMPY' }, trailer);
    },
    ListNumbers: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = Number(call.request.from); i <= Number(call.request.to); i++) call.write({ value: String(i) });
      call.end();
    },
    Sum: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      let sum = 0;
      let count = 0;
      call.on('data', (m: Msg) => {
        sum += Number(m.value);
        count++;
      });
      call.on('end', () => cb(null, { sum: String(sum), count }));
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ message: `re: ${String(m.name)}` }));
      call.on('end', () => call.end());
    },
  });
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from([8, 1])),
    },
  );
  if (withReflection) {
    const root = protobuf.Root.fromJSON(REFLECTION);
    const Req = root.lookupType('Req');
    const Res = root.lookupType('Res');
    const files = new Map<string, Buffer>();
    const reqType = def['demo.HelloRequest'] as protoLoader.MessageTypeDefinition<object, object>;
    const numType = def['demo.common.Number'] as protoLoader.MessageTypeDefinition<object, object>;
    const nameOf = (b: Buffer): string => {
      const r = protobuf.Reader.create(b);
      r.uint32();
      return r.string();
    };
    for (const b of [...reqType.fileDescriptorProtos, ...numType.fileDescriptorProtos]) files.set(nameOf(b), b);
    // proto-loader names the files it hands out by package: demo.proto, demo_common.proto.
    const greeterFile = 'demo.proto';
    server.addService(
      {
        ServerReflectionInfo: {
          path: '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
          requestStream: true,
          responseStream: true,
          requestSerialize: (v: Msg) => Buffer.from(Req.encode(Req.fromObject(v)).finish()),
          requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b)) as Msg,
          responseSerialize: (v: Msg) => Buffer.from(Res.encode(Res.fromObject(v)).finish()),
          responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)) as Msg,
        },
      },
      {
        ServerReflectionInfo: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
          call.on('data', (req: Msg) => {
            // An empty list_services string decodes as absent: a request naming nothing lists.
            if (req.fileContainingSymbol === undefined && req.fileByFilename === undefined)
              call.write({
                listServicesResponse: {
                  service: [{ name: 'demo.Greeter' }, { name: 'grpc.reflection.v1alpha.ServerReflection' }],
                },
              });
            else if (req.fileContainingSymbol === 'demo.Greeter')
              call.write({
                fileDescriptorResponse: {
                  fileDescriptorProto: [files.get(greeterFile), files.get('demo_common.proto')],
                },
              });
            else if (typeof req.fileByFilename === 'string' && files.has(req.fileByFilename))
              call.write({ fileDescriptorResponse: { fileDescriptorProto: [files.get(req.fileByFilename)] } });
            else call.write({ errorResponse: { errorCode: 5, errorMessage: 'not found' } });
          });
          call.on('end', () => call.end());
        },
      },
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  state.address = `127.0.0.1:${port}`;
  state.stop = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return state;
}
