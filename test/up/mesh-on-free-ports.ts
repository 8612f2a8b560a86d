// The shop mesh with every port moved, so a test's mesh never collides with a developer's running
// `meshscope up` (default ports) or with another test's: every port taken from the test port allocator.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../helpers/ports.js';

interface Mesh {
  telemetry: { collector: string };
  ingress: { name: string; port: number; https_port?: number; admin_port: number };
  services: Array<{
    workloads: Array<{
      endpoints: Record<string, string>;
      sidecar: { inbound: Record<string, number>; outbound_port: number; admin_port: number };
    }>;
  }>;
}

/** A mesh written with every port mapped, and `shift` mapping an address's port the same way. */
export interface MappedMesh {
  file: string;
  shift(address: string): string;
  frontProxy: string;
  /** The front proxy's HTTPS base URL. */
  frontProxyHttps: string;
}

/** Ports `meshscope up` listens on beside the mesh's own: collector HTTP, xDS, Prometheus. */
const UP_PORTS = [16686, 18000, 9090];

/**
 * The shop mesh with every port (and `meshscope up`'s own, UP_PORTS) taken from the test port
 * allocator (test/helpers/ports.ts: below the ephemeral range, a slice per vitest worker, bind
 * checked), so meshes of tests running at once never share a port.
 */
export async function writeMeshOnFreePorts(dir: string): Promise<MappedMesh> {
  const mapped = new Map<number, number>();
  const map = (port: number): number => {
    const to = mapped.get(port);
    if (to === undefined) throw new Error(`port ${port} has no free port mapped to it`);
    return to;
  };
  for (const port of [...meshPorts(readShop()), ...UP_PORTS]) if (!mapped.has(port)) mapped.set(port, await freePort());
  return writeMappedMesh(dir, map);
}

function readShop(): Mesh {
  return parse(readFileSync('examples/shop/mesh.yaml', 'utf8')) as Mesh;
}

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)?.[1]);

function meshPorts(mesh: Mesh): number[] {
  const ports = [portOf(mesh.telemetry.collector), mesh.ingress.port, mesh.ingress.admin_port];
  if (mesh.ingress.https_port !== undefined) ports.push(mesh.ingress.https_port);
  for (const s of mesh.services) {
    for (const w of s.workloads) {
      ports.push(...Object.values(w.endpoints).map(portOf), ...Object.values(w.sidecar.inbound));
      ports.push(w.sidecar.outbound_port, w.sidecar.admin_port);
    }
  }
  return ports;
}

function writeMappedMesh(dir: string, map: (port: number) => number): MappedMesh {
  const shift = (address: string): string => address.replace(/:(\d+)$/, (_, p: string) => `:${map(Number(p))}`);
  const mesh = readShop();
  mesh.telemetry.collector = shift(mesh.telemetry.collector);
  mesh.ingress.port = map(mesh.ingress.port);
  mesh.ingress.admin_port = map(mesh.ingress.admin_port);
  if (mesh.ingress.https_port !== undefined) mesh.ingress.https_port = map(mesh.ingress.https_port);
  for (const s of mesh.services) {
    for (const w of s.workloads) {
      for (const k of Object.keys(w.endpoints)) w.endpoints[k] = shift(w.endpoints[k]!);
      for (const k of Object.keys(w.sidecar.inbound)) w.sidecar.inbound[k] = map(w.sidecar.inbound[k]!);
      w.sidecar.outbound_port = map(w.sidecar.outbound_port);
      w.sidecar.admin_port = map(w.sidecar.admin_port);
    }
  }
  const file = join(dir, 'mesh.yaml');
  writeFileSync(file, stringify(mesh));
  return {
    file,
    shift,
    frontProxy: `http://127.0.0.1:${mesh.ingress.port}`,
    frontProxyHttps: `https://127.0.0.1:${mesh.ingress.https_port}`,
  };
}
