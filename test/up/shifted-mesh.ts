// The shop mesh with every port moved by an offset, so a test's mesh never collides with a
// developer's running `meshscope up` (default ports) or with another test's.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

interface Mesh {
  telemetry: { collector: string };
  ingress: { name: string; port: number; admin_port: number };
  services: Array<{
    workloads: Array<{
      endpoints: Record<string, string>;
      sidecar: { inbound: Record<string, number>; outbound_port: number; admin_port: number };
    }>;
  }>;
}

export interface ShiftedMesh {
  file: string;
  offset: number;
  shift(address: string): string;
  frontProxy: string;
}

/**
 * Keeps every shifted port below Linux's ephemeral range (32768+, where other tests' client
 * sockets live) and, by ending in 37, off every default port of the mesh.
 */
export function randomOffset(): number {
  return 100 * (10 + Math.floor(Math.random() * 130)) + 37;
}

export function writeShiftedMesh(dir: string, offset: number): ShiftedMesh {
  const shift = (address: string): string => address.replace(/:(\d+)$/, (_, p: string) => `:${Number(p) + offset}`);
  const mesh = parse(readFileSync('examples/shop/mesh.yaml', 'utf8')) as Mesh;
  mesh.telemetry.collector = shift(mesh.telemetry.collector);
  mesh.ingress.port += offset;
  mesh.ingress.admin_port += offset;
  for (const s of mesh.services) {
    for (const w of s.workloads) {
      for (const k of Object.keys(w.endpoints)) w.endpoints[k] = shift(w.endpoints[k]!);
      for (const k of Object.keys(w.sidecar.inbound)) w.sidecar.inbound[k] = w.sidecar.inbound[k]! + offset;
      w.sidecar.outbound_port += offset;
      w.sidecar.admin_port += offset;
    }
  }
  const file = join(dir, 'mesh.yaml');
  writeFileSync(file, stringify(mesh));
  return { file, offset, shift, frontProxy: `http://127.0.0.1:${mesh.ingress.port}` };
}
