// The xDS server speaking to real clients: a @grpc/grpc-js ADS stream and REST-JSON polls.
// Versions per type per node, pushes only for what changed, NACKs not re-sent, a malformed
// mesh file refused with the field named while the last good mesh keeps being served.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { decodeMessage, encodeMessage, type JsonMap, type JsonValue } from '../../proxy/xds/index.js';
import { AdsClient } from './ads-client.js';
import { tempDir, waitFor, type TempDir } from './helpers.js';

const meshText = (weightV1: number): string => `
name: proto
services:
  - name: web
    ports: [{ name: http, port: 8080 }]
    workloads:
      - name: web-1
        endpoints: { http: 127.0.0.1:19001 }
        sidecar: { inbound: { http: 19101 }, outbound_port: 19102 }
  - name: api
    ports: [{ name: http, port: 8080 }]
    workloads:
      - { name: api-v1, labels: { version: v1 }, endpoints: { http: 127.0.0.1:19002 } }
      - { name: api-v2, labels: { version: v2 }, endpoints: { http: 127.0.0.1:19003 } }
    routes:
      - route:
          - { subset: v1, weight: ${weightV1} }
          - { subset: v2, weight: ${100 - weightV1} }
`;

let dir: TempDir;
let cp: ControlPlane;
const nacks: string[] = [];
const rejected: Error[] = [];
const clients: AdsClient[] = [];

beforeAll(async () => {
  dir = tempDir();
  dir.write('mesh.yaml', meshText(80));
  cp = await startControlPlane({
    meshPath: dir.file('mesh.yaml'),
    port: 0,
    restHoldMs: 1500,
    debounceMs: 20,
    log: () => undefined,
    onNack: (_node, _type, _version, message) => nacks.push(message),
    onMeshRejected: (err) => rejected.push(err),
  });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(async () => {
  await cp.close();
  dir.remove();
});

/** A REST answer: a DiscoveryResponse (200) or an error body (4xx). */
interface RestBody {
  version_info: string;
  type_url: string;
  resources: JsonMap[];
  message?: string;
}

async function rest(kind: string, body: unknown): Promise<{ status: number; json: RestBody }> {
  const res = await fetch(`http://127.0.0.1:${cp.port}/v3/discovery:${kind}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status === 200) {
    // The body is written from each resource's cached JSON text: exactly what JSON.stringify gives.
    expect(text).toBe(JSON.stringify(JSON.parse(text)));
    expect(Object.keys(JSON.parse(text))).toEqual(['version_info', 'resources', 'type_url', 'nonce']);
  }
  return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as RestBody };
}

describe('xDS server over gRPC ADS', () => {
  it('serves CDS, then EDS for the names asked, and pushes only the changed type on a mesh edit', async () => {
    const c = new AdsClient(cp.port);
    clients.push(c);
    c.send({ node: { id: 'web-1', cluster: 'web' }, type_url: TYPE_URL.clusters });
    const cds = await waitFor(() => c.of(TYPE_URL.clusters)[0], 'CDS response');
    const names = cds.resources.map((r) => r.name as string);
    expect(names).toContain('outbound|8080|v1|default/api');
    expect(cds.resources.every((r) => r['@type'] === TYPE_URL.clusters)).toBe(true);
    const edsNames = cds.resources.filter((r) => r.type === 'EDS').map((r) => r.name as string);
    c.send({ type_url: TYPE_URL.clusters, version_info: cds.version_info, response_nonce: cds.nonce });
    c.send({ type_url: TYPE_URL.endpoints, resource_names: [edsNames[0]!] });
    const eds = await waitFor(() => c.of(TYPE_URL.endpoints)[0], 'EDS response');
    expect(eds.resources.map((r) => r.cluster_name)).toEqual([edsNames[0]]);
    c.send({
      type_url: TYPE_URL.endpoints,
      version_info: eds.version_info,
      response_nonce: eds.nonce,
      resource_names: [edsNames[0]!],
    });
    c.send({ type_url: TYPE_URL.listeners });
    const lds = await waitFor(() => c.of(TYPE_URL.listeners)[0], 'LDS response');
    c.send({ type_url: TYPE_URL.listeners, version_info: lds.version_info, response_nonce: lds.nonce });
    c.send({ type_url: TYPE_URL.routes, resource_names: ['outbound'] });
    const rds = await waitFor(() => c.of(TYPE_URL.routes)[0], 'RDS response');
    c.send({
      type_url: TYPE_URL.routes,
      version_info: rds.version_info,
      response_nonce: rds.nonce,
      resource_names: ['outbound'],
    });

    dir.write('mesh.yaml', meshText(30));
    const rds2 = await waitFor(() => c.of(TYPE_URL.routes)[1], 'RDS push after the weight change');
    expect(rds2.version_info).not.toBe(rds.version_info);
    const weighted = JSON.stringify(rds2.resources[0]);
    expect(weighted).toContain('"weight":30');
    // Only the route configuration changed: no other type was re-sent.
    await new Promise((r) => setTimeout(r, 200));
    expect(c.of(TYPE_URL.clusters)).toHaveLength(1);
    expect(c.of(TYPE_URL.endpoints)).toHaveLength(1);
    expect(c.of(TYPE_URL.listeners)).toHaveLength(1);
  });

  it('does not re-send a NACKed version, and a reconnecting client holding the current version gets no push', async () => {
    const c = new AdsClient(cp.port);
    clients.push(c);
    c.send({ node: { id: 'web-1' }, type_url: TYPE_URL.listeners });
    const lds = await waitFor(() => c.of(TYPE_URL.listeners)[0], 'LDS response');
    c.send({
      type_url: TYPE_URL.listeners,
      version_info: '',
      response_nonce: lds.nonce,
      error_detail: { code: 3, message: 'listener refused by test' },
    });
    await waitFor(() => nacks.includes('listener refused by test'), 'NACK recorded');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.of(TYPE_URL.listeners)).toHaveLength(1);

    const again = new AdsClient(cp.port);
    clients.push(again);
    again.send({ node: { id: 'web-1' }, type_url: TYPE_URL.listeners, version_info: lds.version_info });
    again.send({ type_url: TYPE_URL.clusters });
    await waitFor(() => again.of(TYPE_URL.clusters)[0], 'CDS on the new stream');
    expect(again.of(TYPE_URL.listeners)).toHaveLength(0);
  });

  it('closes a stream whose first request has no node id, and answers an unknown method with UNIMPLEMENTED', async () => {
    const c = new AdsClient(cp.port);
    clients.push(c);
    c.send({ type_url: TYPE_URL.clusters });
    const status = await c.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/node\.id/);

    const client = new grpc.Client(`127.0.0.1:${cp.port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      '/envoy.service.discovery.v3.ClusterDiscoveryService/StreamClusters',
      (m: Buffer) => m,
      (b: Buffer) => b,
    );
    call.on('error', () => undefined);
    const deltaStatus = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    client.close();
    expect(deltaStatus.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe('xDS server over delta gRPC ADS', () => {
  interface DeltaResp {
    system_version_info: string;
    type_url: string;
    nonce: string;
    resources?: Array<{ name: string; version: string; resource: JsonMap }>;
    removed_resources?: string[];
  }

  function deltaStream(): { responses: DeltaResp[]; send(m: JsonMap): void; close(): void } {
    const client = new grpc.Client(`127.0.0.1:${cp.port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest<JsonMap, DeltaResp>(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
      (m) => Buffer.from(encodeMessage('envoy.service.discovery.v3.DeltaDiscoveryRequest', m as JsonValue)),
      (b) => decodeMessage('envoy.service.discovery.v3.DeltaDiscoveryResponse', b) as unknown as DeltaResp,
    );
    const responses: DeltaResp[] = [];
    call.on('data', (r: DeltaResp) => responses.push(r));
    call.on('error', () => undefined);
    return {
      responses,
      send: (m) => call.write(m),
      close: () => {
        call.end();
        client.close();
      },
    };
  }

  it('sends per-resource versions, then only what changed; a reconnect with initial_resource_versions gets nothing', async () => {
    dir.write('mesh.yaml', meshText(80));
    await waitFor(
      async () =>
        JSON.stringify((await rest('routes', { node: { id: 'web-1' }, resource_names: ['outbound'] })).json).includes(
          '"weight":80',
        ),
      'mesh reloaded',
    );
    const s = deltaStream();
    try {
      s.send({ node: { id: 'web-1' }, type_url: TYPE_URL.routes, resource_names_subscribe: ['outbound'] });
      s.send({
        type_url: TYPE_URL.endpoints,
        resource_names_subscribe: ['outbound|8080|v1|default/api', 'outbound|8080||default/web'],
      });
      const rds = await waitFor(() => s.responses.find((r) => r.type_url === TYPE_URL.routes), 'delta RDS');
      const eds = await waitFor(() => s.responses.find((r) => r.type_url === TYPE_URL.endpoints), 'delta EDS');
      expect(rds.resources!.map((r) => r.name)).toEqual(['outbound']);
      expect(rds.resources![0]!.version).toMatch(/^[0-9a-f]{16}$/);
      expect(eds.resources!.map((r) => r.name).sort()).toEqual(
        ['outbound|8080||default/web', 'outbound|8080|v1|default/api'].sort(),
      );
      s.send({ type_url: TYPE_URL.routes, response_nonce: rds.nonce });
      s.send({ type_url: TYPE_URL.endpoints, response_nonce: eds.nonce });

      dir.write('mesh.yaml', meshText(20));
      const rds2 = await waitFor(
        () => s.responses.filter((r) => r.type_url === TYPE_URL.routes)[1],
        'RDS delta after the edit',
      );
      expect(JSON.stringify(rds2.resources)).toContain('"weight":20');
      await new Promise((r) => setTimeout(r, 200));
      // Endpoints did not change: no EDS message.
      expect(s.responses.filter((r) => r.type_url === TYPE_URL.endpoints)).toHaveLength(1);

      const again = deltaStream();
      try {
        again.send({
          node: { id: 'web-1' },
          type_url: TYPE_URL.routes,
          resource_names_subscribe: ['outbound'],
          initial_resource_versions: { outbound: rds2.resources![0]!.version },
        });
        again.send({ type_url: TYPE_URL.clusters });
        await waitFor(
          () => again.responses.find((r) => r.type_url === TYPE_URL.clusters),
          'wildcard CDS on the new stream',
        );
        expect(again.responses.filter((r) => r.type_url === TYPE_URL.routes)).toHaveLength(0);
      } finally {
        again.close();
      }
    } finally {
      s.close();
    }
  });
});

describe('xDS server over REST-JSON', () => {
  it('answers a poll with a DiscoveryResponse, holds an up-to-date poll, then 304', async () => {
    const first = await rest('clusters', { node: { id: 'web-1' } });
    expect(first.status).toBe(200);
    expect(first.json.type_url).toBe(TYPE_URL.clusters);
    expect(first.json.resources[0]!['@type']).toBe(TYPE_URL.clusters);
    const eds = first.json.resources.find((r) => r.type === 'EDS') as
      | { eds_cluster_config: { eds_config: { api_config_source: JsonMap } } }
      | undefined;
    expect(eds?.eds_cluster_config.eds_config.api_config_source).toMatchObject({
      api_type: 'REST',
      cluster_names: ['xds_cluster'],
    });
    const t0 = Date.now();
    const held = await rest('clusters', { node: { id: 'web-1' }, version_info: first.json.version_info });
    expect(held.status).toBe(304);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  });

  it('answers a held poll as soon as the mesh changes', async () => {
    const first = await rest('routes', { node: { id: 'web-1' }, resource_names: ['outbound'] });
    const pending = rest('routes', {
      node: { id: 'web-1' },
      resource_names: ['outbound'],
      version_info: first.json.version_info,
    });
    await new Promise((r) => setTimeout(r, 50));
    dir.write('mesh.yaml', meshText(55));
    const changed = await pending;
    expect(changed.status).toBe(200);
    expect(JSON.stringify(changed.json.resources)).toContain('"weight":55');
  });

  it('refuses malformed requests with 400/404/405 and a message', async () => {
    expect((await rest('clusters', '{not json')).status).toBe(400);
    const noNode = await rest('clusters', {});
    expect(noNode.status).toBe(400);
    expect(noNode.json.message).toMatch(/node\.id is required/);
    const wrongType = await rest('clusters', { node: { id: 'x' }, type_url: TYPE_URL.listeners });
    expect(wrongType.json.message).toMatch(/does not match/);
    expect((await rest('nothing', { node: { id: 'x' } })).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${cp.port}/v3/discovery:clusters`)).status).toBe(405);
  });
});

describe('mesh file watching', () => {
  it('rejects a malformed edit naming the field and keeps serving the last good mesh', async () => {
    const before = await rest('routes', { node: { id: 'web-1' }, resource_names: ['outbound'] });
    dir.write('mesh.yaml', meshText(55).replace('outbound_port: 19102', 'outbound_port: 19102, inbund: 3'));
    await waitFor(() => rejected.length > 0, 'rejection');
    expect(rejected[0]!.message).toContain('services[0].workloads[0].sidecar.inbund: unknown field');
    const after = await rest('routes', { node: { id: 'web-1' }, resource_names: ['outbound'] });
    expect(after.json.version_info).toBe(before.json.version_info);
  });
});
