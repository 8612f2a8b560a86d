// k6/net/grpc's Client for one VU: protos from files (load), a protoset (loadProtoset) or server
// reflection (connect with reflect: true); connect, invoke/asyncInvoke (unary) with metadata, tags
// and timeout; healthCheck; close. Messages use proto3 JSON names and forms (lowerCamelCase,
// enums as names, 64-bit integers and bytes as strings, unset fields with their defaults).
// Each unary call records grpc_req_duration.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { MethodDefinition, PackageDefinition } from '@grpc/proto-loader';
import { parseDuration } from '../../../duration.js';
import { IterationInterruptedError } from '../../../errors.js';
import type { Metric } from '../../../metrics/registry.js';
import type { ModuleContext, TestContext } from '../../context.js';
import { grpcDeps } from './deps.js';
import { reflect } from './reflection.js';

export type AnyMethod = MethodDefinition<object, object>;

/** How grpc.Stream reaches its client's connection and methods (not part of k6's API). */
export const RESOLVE = Symbol('grpc.resolve');

export interface ResolvedMethod {
  client: grpc.Client;
  method: AnyMethod;
  path: string;
  address: string;
}

export interface GrpcMetrics {
  readonly reqDuration: Metric;
  readonly streams: Metric;
  readonly msgsSent: Metric;
  readonly msgsReceived: Metric;
}

/** How k6 encodes messages to JSON (protojson with unpopulated fields emitted). */
const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  oneofs: true,
};

/** Parsed proto files are the same for every VU: parsed once per test, by file set. */
const definitionCache = new WeakMap<TestContext, Map<string, Map<string, AnyMethod>>>();

function methodsOf(def: PackageDefinition): Map<string, AnyMethod> {
  const out = new Map<string, AnyMethod>();
  for (const entry of Object.values(def)) {
    if (typeof entry !== 'object' || entry === null || 'format' in entry) continue;
    for (const m of Object.values(entry as Record<string, unknown>)) {
      const method = m as AnyMethod;
      if (typeof method?.path === 'string') out.set(method.path, method);
    }
  }
  return out;
}

export interface GrpcParams {
  metadata?: Record<string, string | ArrayBuffer>;
  tags?: Record<string, string | number | boolean>;
  timeout?: string | number;
  discardResponseMessage?: boolean;
}

export interface GrpcResponse {
  status: number;
  message: unknown;
  headers: Record<string, unknown[]>;
  trailers: Record<string, unknown[]>;
  error: { code: number; details: unknown[]; message: string } | null;
}

export function toMetadata(md: GrpcParams['metadata']): grpc.Metadata {
  const metadata = new (grpcDeps().grpc.Metadata)();
  for (const [k, v] of Object.entries(md ?? {})) {
    if (k.endsWith('-bin')) metadata.add(k, typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));
    else if (typeof v === 'string') metadata.add(k, v);
    else throw new Error(`grpc: metadata '${k}' must be a string (only '-bin' keys take binary values)`);
  }
  return metadata;
}

function metadataObject(md: grpc.Metadata | undefined): Record<string, unknown[]> {
  if (md === undefined) return {};
  const out: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(md.toJSON())) out[k] = v.map((x) => (Buffer.isBuffer(x) ? x.toString() : x));
  return out;
}

export function grpcError(code: number, details: string): { code: number; details: unknown[]; message: string } {
  return { code, details: [], message: details };
}

/** A k6 duration (string or milliseconds) or the default, in milliseconds. */
export function durationMs(v: string | number | undefined, what: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  const ms = parseDuration(v);
  if (ms === undefined) throw new Error(`grpc: invalid ${what} '${String(v)}'`);
  return ms;
}

interface ConnectParams {
  plaintext?: boolean;
  reflect?: boolean;
  reflectMetadata?: GrpcParams['metadata'];
  timeout?: string | number;
  maxReceiveSize?: number;
  maxSendSize?: number;
  authority?: string;
  /** PEM strings (as open() reads them): a client certificate and key, and the CAs to trust. */
  tls?: { cert?: string; key?: string; password?: string; cacerts?: string | string[] };
}

const CONNECT_PARAMS = new Set([
  'plaintext',
  'reflect',
  'reflectMetadata',
  'timeout',
  'maxReceiveSize',
  'maxSendSize',
  'authority',
  'tls',
]);

/**
 * Waits for the channel to connect, failing at its first failed attempt as k6 does (its dial
 * blocks with FailOnNonTempDialError): a refused connection or an unknown host fails the
 * connect() at once rather than retrying with backoff until the timeout.
 */
function waitUntilReady(client: grpc.Client, deadline: Date, done: (err: Error | null) => void): void {
  const { connectivityState: State } = grpcDeps().grpc;
  const channel = client.getChannel();
  const check = (): void => {
    const state = channel.getConnectivityState(true);
    if (state === State.READY) return done(null);
    if (state === State.TRANSIENT_FAILURE)
      return done(new Error('the connection attempt failed (refused, unreachable or a TLS handshake error)'));
    if (state === State.SHUTDOWN) return done(new Error('the connection was closed'));
    channel.watchConnectivityState(state, deadline, (err) => (err ? done(err) : check()));
  };
  check();
}

export function createGrpcClientClass(ctx: ModuleContext, metrics: GrpcMetrics) {
  const { test, vu } = ctx;

  return class Client {
    #methods = new Map<string, AnyMethod>();
    #client: grpc.Client | null = null;
    #address = '';
    #release: (() => void) | null = null;

    /** Loads .proto files (init context only); importPaths resolve against the script's directory. */
    load(importPaths: string[] | null, ...files: string[]): void {
      if (!ctx.inInit()) throw new Error('grpc: load() must be called in the init context');
      if (files.length === 0) throw new Error('grpc: load() needs at least one .proto file');
      const dirs = (importPaths ?? []).map((p) => path.resolve(ctx.scriptDir, p));
      const resolved = files.map((f) => {
        if (path.isAbsolute(f)) return f;
        const found = [...dirs, ctx.scriptDir].map((d) => path.join(d, f)).find((p) => fs.existsSync(p));
        if (found === undefined)
          throw new Error(`grpc: proto file '${f}' not found in ${[...dirs, ctx.scriptDir].join(', ')}`);
        return found;
      });
      const key = JSON.stringify(['proto', dirs, resolved]);
      this.#adopt(key, () =>
        grpcDeps().protoLoader.loadSync(resolved, { ...LOADER_OPTIONS, includeDirs: [...dirs, ctx.scriptDir] }),
      );
    }

    /** Loads a protoset (a binary FileDescriptorSet, as protoc --descriptor_set_out writes). */
    loadProtoset(file: string): void {
      if (!ctx.inInit()) throw new Error('grpc: loadProtoset() must be called in the init context');
      const p = path.resolve(ctx.scriptDir, file);
      this.#adopt(JSON.stringify(['protoset', p]), () =>
        grpcDeps().protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(p), LOADER_OPTIONS),
      );
    }

    #adopt(key: string, parse: () => PackageDefinition): void {
      let cache = definitionCache.get(test);
      if (cache === undefined) definitionCache.set(test, (cache = new Map()));
      let methods = cache.get(key);
      if (methods === undefined) {
        try {
          methods = methodsOf(parse());
        } catch (err) {
          throw new Error(`grpc: ${err instanceof Error ? err.message : String(err)}`);
        }
        cache.set(key, methods);
      }
      for (const [p, m] of methods) this.#methods.set(p, m);
    }

    async connect(address: string, params?: ConnectParams): Promise<boolean> {
      if (ctx.inInit()) throw new Error('grpc: connect() is not allowed in the init context');
      if (typeof address !== 'string' || address === '')
        throw new Error('grpc: connect() needs an address (host:port)');
      for (const k of Object.keys(params ?? {}))
        if (!CONNECT_PARAMS.has(k))
          throw new Error(`grpc: unknown connect param '${k}' (${[...CONNECT_PARAMS].join(', ')})`);
      const { grpc: g } = grpcDeps();
      this.close();
      const tls = params?.tls;
      const pem = (v: string | string[] | undefined): Buffer | undefined =>
        v === undefined ? undefined : Buffer.from(Array.isArray(v) ? v.join('\n') : v);
      const creds = params?.plaintext
        ? g.credentials.createInsecure()
        : g.credentials.createSsl(pem(tls?.cacerts) ?? null, pem(tls?.key) ?? null, pem(tls?.cert) ?? null);
      const options: grpc.ChannelOptions = {};
      if (params?.maxReceiveSize !== undefined) options['grpc.max_receive_message_length'] = params.maxReceiveSize;
      if (params?.maxSendSize !== undefined) options['grpc.max_send_message_length'] = params.maxSendSize;
      if (params?.authority !== undefined) options['grpc.default_authority'] = params.authority;
      const client = new g.Client(address, creds, options);
      this.#client = client;
      this.#address = address;
      this.#release = vu.loop.hold(() => client.close());
      const deadline = new Date(Date.now() + durationMs(params?.timeout, 'timeout', 60_000));
      await new Promise<void>((resolve, reject) => {
        // An interrupted VU closes the channel and ends the wait (grpc-js never calls back on close).
        const waiting = vu.loop.add(() => {
          client.close();
          reject(new IterationInterruptedError());
        });
        const settle = (err: Error | null): void => {
          waiting.done();
          if (err === null) resolve();
          else reject(new Error(`grpc: failed to connect to ${address}: ${err.message}`));
        };
        waitUntilReady(client, deadline, settle);
      });
      if (vu.interrupted) throw new IterationInterruptedError();
      if (params?.reflect) {
        const set = await reflect(client, toMetadata(params.reflectMetadata), deadline);
        const methods = methodsOf(grpcDeps().protoLoader.loadFileDescriptorSetFromBuffer(set, LOADER_OPTIONS));
        for (const [p, m] of methods) this.#methods.set(p, m);
      }
      return true;
    }

    /** The connection and method for a call; throws as k6 does when either is missing. */
    [RESOLVE](url: string): ResolvedMethod {
      if (this.#client === null) throw new Error('grpc: no gRPC connection, you must call connect first');
      if (typeof url !== 'string' || url === '') throw new Error('grpc: method to invoke cannot be empty');
      const p = url.startsWith('/') ? url : `/${url}`;
      const method = this.#methods.get(p);
      if (method === undefined) throw new Error(`grpc: method "${p}" not found in file descriptors`);
      return { client: this.#client, method, path: p, address: this.#address };
    }

    invoke(url: string, request: object, params?: GrpcParams): Promise<GrpcResponse> {
      if (ctx.inInit()) throw new Error('grpc: invoke() is not allowed in the init context');
      const { client, method, path: p, address } = this[RESOLVE](url);
      if (method.requestStream || method.responseStream)
        throw new Error(`grpc: method "${p}" is a streaming method: use grpc.Stream`);
      return this.#unary(client, method, p, address, request, params);
    }

    asyncInvoke(url: string, request: object, params?: GrpcParams): Promise<GrpcResponse> {
      return this.invoke(url, request, params);
    }

    async #unary(
      client: grpc.Client,
      method: AnyMethod,
      p: string,
      address: string,
      request: object,
      params: GrpcParams | undefined,
    ): Promise<GrpcResponse> {
      if (vu.interrupted) throw new IterationInterruptedError();
      const deadline = new Date(Date.now() + durationMs(params?.timeout, 'timeout', 60_000));
      const start = performance.now();
      const result = await new Promise<{
        value: object | undefined;
        status: grpc.StatusObject;
        headers?: grpc.Metadata;
      }>((resolve) => {
        let value: object | undefined;
        let headers: grpc.Metadata | undefined;
        let call: grpc.ClientUnaryCall;
        try {
          call = client.makeUnaryRequest(
            p,
            method.requestSerialize,
            method.responseDeserialize,
            request ?? {},
            toMetadata(params?.metadata),
            { deadline },
            (_err, v) => {
              value = v;
            },
          );
        } catch (err) {
          const details = err instanceof Error ? err.message : String(err);
          resolve({ value: undefined, status: { code: 13, details, metadata: new (grpcDeps().grpc.Metadata)() } });
          return;
        }
        // In flight, the call is event-loop work: asyncInvoke's promise keeps the iteration
        // going, and an interrupted VU cancels it instead of waiting out its deadline.
        const task = vu.loop.add(() => call.cancel());
        call.on('metadata', (md) => {
          headers = md;
        });
        call.on('status', (status) => {
          task.done();
          resolve({ value, status, headers });
        });
      });
      if (vu.interrupted) throw new IterationInterruptedError();
      const duration = performance.now() - start;
      const code = result.status.code;
      const tags: Record<string, string> = {
        ...vu.tags,
        name: p,
        method: p,
        rpc_type: 'unary',
        status: String(code),
        url: `${address}${p}`,
      };
      if (params?.tags) for (const [k, v] of Object.entries(params.tags)) tags[k] = String(v);
      metrics.reqDuration.add(duration, tags);
      return {
        status: code,
        message: code === 0 && !params?.discardResponseMessage ? (result.value ?? null) : null,
        headers: metadataObject(result.headers),
        trailers: metadataObject(result.status.metadata),
        error: code === 0 ? null : grpcError(code, result.status.details),
      };
    }

    /** grpc.health.v1.Health/Check for `service` ('' for the server as a whole). */
    async healthCheck(service = ''): Promise<GrpcResponse> {
      if (this.#client === null) throw new Error('grpc: no gRPC connection, you must call connect first');
      const { protobuf } = grpcDeps();
      const statuses = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
      const health: AnyMethod = {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: object) =>
          Buffer.from(
            protobuf.Writer.create()
              .uint32(10)
              .string(String((v as { service?: string }).service ?? ''))
              .finish(),
          ),
        requestDeserialize: () => ({}),
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: (b: Buffer) => {
          const r = protobuf.Reader.create(b);
          let status = 0;
          while (r.pos < r.len) {
            const tag = r.uint32();
            if (tag === 8) status = r.int32();
            else r.skipType(tag & 7);
          }
          return { status: statuses[status] ?? String(status) };
        },
        originalName: 'check',
        requestType: undefined as never,
        responseType: undefined as never,
        options: {} as AnyMethod['options'],
      };
      return this.#unary(this.#client, health, health.path, this.#address, { service }, undefined);
    }

    close(): void {
      this.#client?.close();
      this.#client = null;
      this.#release?.();
      this.#release = null;
    }
  };
}
