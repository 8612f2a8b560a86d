// k6/net/grpc's Stream: server, client and bidirectional streaming over a connected Client, with
// on('data' | 'error' | 'end'), write() and end(). The iteration waits for an open stream (it is
// work on the VU's event loop); listeners run as event-loop callbacks. Records grpc_streams,
// grpc_streams_msgs_sent and grpc_streams_msgs_received.
import type * as grpc from '@grpc/grpc-js';
import type { ModuleContext } from '../../context.js';
import type { LoopTask } from '../../event-loop.js';
import {
  durationMs,
  type GrpcMetrics,
  type GrpcParams,
  grpcError,
  RESOLVE,
  type ResolvedMethod,
  toMetadata,
} from './client.js';

type Listener = (data: unknown, meta: { ts: number }) => unknown;
type Call =
  | grpc.ClientWritableStream<object>
  | grpc.ClientReadableStream<object>
  | grpc.ClientDuplexStream<object, object>;

export function createGrpcStreamClass(ctx: ModuleContext, metrics: GrpcMetrics) {
  const { vu } = ctx;
  return class Stream {
    readonly #listeners: Record<string, Listener[]> = { data: [], error: [], end: [] };
    readonly #resolved: ResolvedMethod;
    readonly #params: GrpcParams | undefined;
    readonly #tags: Record<string, string>;
    readonly #task: LoopTask;
    #call: Call | null = null;
    #finished = false;

    constructor(client: { [RESOLVE](url: string): ResolvedMethod }, url: string, params?: GrpcParams | null) {
      if (client === null || typeof client !== 'object' || typeof client[RESOLVE] !== 'function')
        throw new Error('grpc.Stream needs a grpc.Client');
      this.#resolved = client[RESOLVE](url);
      this.#params = params ?? undefined;
      const { method, path, address } = this.#resolved;
      this.#tags = { ...vu.tags, name: path, method: path, url: `${address}${path}` };
      if (params?.tags) for (const [k, v] of Object.entries(params.tags)) this.#tags[k] = String(v);
      this.#task = vu.loop.add(() => this.#cancel());
      metrics.streams.add(1, this.#tags);
      // Server streaming sends its one request with the first write; the others open now.
      if (method.requestStream) this.#open(undefined);
    }

    on(event: string, listener: Listener): void {
      const list = this.#listeners[event];
      if (list === undefined) throw new Error(`grpc.Stream: unknown event '${event}' (data, error, end)`);
      if (typeof listener !== 'function') throw new Error('grpc.Stream.on needs a function');
      list.push(listener);
    }

    write(message: object): void {
      if (this.#finished) throw new Error('grpc.Stream: write() after the stream ended');
      const { method } = this.#resolved;
      if (!method.requestStream) {
        if (this.#call !== null) throw new Error('grpc.Stream: a server-streaming method takes one request');
        this.#open(message ?? {});
      } else (this.#call as grpc.ClientWritableStream<object>).write(message ?? {});
      metrics.msgsSent.add(1, this.#tags);
    }

    end(): void {
      const { method } = this.#resolved;
      if (!method.requestStream) {
        if (this.#call === null) this.#open({});
        return;
      }
      (this.#call as grpc.ClientWritableStream<object>).end();
    }

    #open(request: object | undefined): void {
      const { client, method, path } = this.#resolved;
      const metadata = toMetadata(this.#params?.metadata);
      const timeout = this.#params?.timeout;
      const options =
        timeout === undefined ? {} : { deadline: new Date(Date.now() + durationMs(timeout, 'timeout', 0)) };
      const ser = method.requestSerialize;
      const de = method.responseDeserialize;
      let call: Call;
      if (method.requestStream && !method.responseStream) {
        call = client.makeClientStreamRequest(path, ser, de, metadata, options, (err, value) => {
          if (err === null && value !== undefined) this.#data(value);
        });
      } else if (method.requestStream) call = client.makeBidiStreamRequest(path, ser, de, metadata, options);
      else call = client.makeServerStreamRequest(path, ser, de, request ?? {}, metadata, options);
      if (method.responseStream) (call as grpc.ClientReadableStream<object>).on('data', (m: object) => this.#data(m));
      // The status ends every call, once, after its last message: the one place it finishes.
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code !== 0) this.#emit('error', grpcError(status.code, status.details));
        this.#finish();
      });
      // Errors arrive again as the status; without a listener an 'error' event would throw.
      call.on('error', () => {});
      this.#call = call;
    }

    #data(message: object): void {
      metrics.msgsReceived.add(1, this.#tags);
      this.#emit('data', message);
    }

    #emit(event: string, data: unknown): void {
      const meta = { ts: Date.now() };
      for (const l of this.#listeners[event] ?? []) vu.loop.call(l, this, data, meta);
    }

    #finish(): void {
      if (this.#finished) return;
      this.#finished = true;
      this.#emit('end', undefined);
      this.#task.done();
    }

    #cancel(): void {
      this.#finished = true;
      this.#call?.cancel();
    }
  };
}
