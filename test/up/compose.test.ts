// docker-compose.yml describes the same mesh as examples/shop/mesh.yaml on real images:
// Debian's docker-compose accepts it, every workload has its app and sidecar, health gates
// point at services that have healthchecks, and Prometheus scrapes every proxy's admin port.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadMeshFile } from '../../control-plane/mesh/validate.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  pull_policy?: string;
  restart?: string;
  network_mode?: string;
  entrypoint?: string[];
  command?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  volumes?: string[];
  ports?: string[];
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;

describe('docker-compose.yml', () => {
  it('passes docker-compose config -q', () => {
    // Throws (and fails the test) on a non-zero exit, with compose's message in the error.
    execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { stdio: 'pipe' });
  });

  it('runs every workload of the shop mesh as an app plus a sidecar sharing its network namespace', async () => {
    const mesh = await loadMeshFile('examples/shop/mesh.yaml');
    for (const svc of mesh.services) {
      for (const w of svc.workloads) {
        const app = services[w.name];
        const sidecar = services[`${w.name}-sidecar`];
        expect(app?.environment?.['SHOP_SERVICE'], w.name).toBe(svc.name);
        expect(app?.environment?.['SHOP_LISTEN']).toBe(w.endpoints['http']);
        expect(app?.environment?.['SHOP_EGRESS']).toBe(`127.0.0.1:${w.sidecar?.outbound_port}`);
        expect(app?.environment?.['SHOP_GRPC_LISTEN']).toBe(w.endpoints['grpc']);
        expect(sidecar?.network_mode).toBe(app?.network_mode);
        expect(String(sidecar?.command)).toContain(`--node ${w.name} `);
        expect(sidecar?.depends_on?.[w.name]?.condition).toBe('service_healthy');
      }
    }
    expect(String(services['front-proxy']?.command)).toContain(`--node ${mesh.ingress?.name} `);
  });

  it('gates on health only where a healthcheck exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (condition === 'service_healthy')
          expect(services[dep]?.healthcheck, `${name} waits for ${dep} to be healthy`).toBeDefined();
      }
    }
  });

  it('has ClickHouse, Grafana with the ClickHouse plugin and provisioning, Prometheus and a loadgen profile', () => {
    expect(services['clickhouse']?.image).toMatch(/^clickhouse\/clickhouse-server:/);
    expect(services['grafana']?.image).toMatch(/^grafana\/grafana:/);
    expect(services['grafana']?.environment?.['GF_INSTALL_PLUGINS']).toContain('grafana-clickhouse-datasource');
    expect(services['grafana']?.volumes?.join(' ')).toContain(
      './dashboards/generated:/var/lib/grafana/dashboards/meshscope',
    );
    expect(services['prometheus']?.image).toMatch(/^prom\/prometheus:/);
    expect(services['collector']?.command).toEqual(
      expect.arrayContaining(['--clickhouse-url', 'http://clickhouse:8123']),
    );
    expect(services['loadgen']?.profiles).toEqual(['load']);
  });

  it('scrapes every proxy admin port of the mesh, and promtool accepts the config', async () => {
    const mesh = await loadMeshFile('examples/shop/mesh.yaml');
    const admin = [
      mesh.ingress?.admin_port,
      ...mesh.services.flatMap((s) => s.workloads.map((w) => w.sidecar?.admin_port)),
    ].map((p) => `127.0.0.1:${p}`);
    const prom = parse(readFileSync('deploy/prometheus.yml', 'utf8')) as {
      scrape_configs: Array<{ job_name: string; metrics_path: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const proxies = prom.scrape_configs.find((j) => j.job_name === 'meshscope-proxies')!;
    expect(proxies.metrics_path).toBe('/stats/prometheus');
    expect(proxies.static_configs.flatMap((c) => c.targets).sort()).toEqual(admin.sort());
    execFileSync('promtool', ['check', 'config', 'deploy/prometheus.yml'], { stdio: 'pipe' });
  });

  it('pins every image and the Grafana ClickHouse plugin to a version', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, `${name} names its image`).toBeDefined();
      const tag = s.image!.split(':')[1];
      expect(tag, `${name}'s image ${s.image} has a tag`).toBeDefined();
      if (s.image !== 'meshscope:local')
        expect(tag, `${name}'s image is pinned to a version`).toMatch(/^v?\d+\.\d+\.\d+/);
    }
    // GF_INSTALL_PLUGINS takes "<id> <version>": without a version Grafana installs whatever is latest.
    expect(services['grafana']?.environment?.['GF_INSTALL_PLUGINS']).toMatch(
      /^grafana-clickhouse-datasource \d+\.\d+\.\d+$/,
    );
  });

  it('builds the meshscope image once and runs it everywhere else without a build or a pull', () => {
    const built = Object.entries(services).filter(([, s]) => s.build !== undefined);
    expect(built.map(([name]) => name)).toEqual(['mesh']);
    for (const [name, s] of Object.entries(services)) {
      if (s.image !== 'meshscope:local' || name === 'mesh') continue;
      expect(s.pull_policy, `${name} never pulls meshscope:local`).toBe('never');
    }
  });

  it('keeps ClickHouse data and the collector write-ahead buffer in named volumes', () => {
    const volumes = Object.keys((compose as { volumes?: Record<string, unknown> }).volumes ?? {});
    expect(volumes).toEqual(expect.arrayContaining(['clickhouse-data', 'collector-wal']));
    expect(services['clickhouse']?.volumes).toContain('clickhouse-data:/var/lib/clickhouse');
    const collector = services['collector']!;
    const wal = collector.volumes?.find((v) => v.startsWith('collector-wal:'))?.split(':')[1];
    expect(wal).toBeDefined();
    const command = collector.command as string[];
    expect(command[command.indexOf('--data') + 1]).toBe(wal);
  });

  it('serves the front proxy over HTTPS with a certificate kept in a named volume, published on 10443', () => {
    const front = services['front-proxy']!;
    const command = (front.command as string[]).join(' ');
    const tlsDir = /--tls-dir (\S+)/.exec(command)?.[1];
    expect(tlsDir).toBeDefined();
    expect(front.volumes).toContain(`ingress-tls:${tlsDir}`);
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(new RegExp(`mkdir -p [^\\n]*${tlsDir}`));
    expect(services['mesh']?.ports).toContain('10443:10444');
    // The service's own bootstrap command, run here with the paths moved: the ingress's HTTPS
    // listener gets its static secret (without it the listener would refuse every handshake).
    const bootstrap = /node (dist\/cli\/main\.js control-plane bootstrap [^>]*)>/.exec(command)?.[1];
    expect(bootstrap).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'meshscope-compose-'));
    try {
      const args = bootstrap!
        .trim()
        .split(/\s+/)
        .map((a) => (a === '/etc/meshscope/mesh.yaml' ? 'examples/shop/mesh.yaml' : a === tlsDir ? dir : a));
      const out = parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as {
        static_resources: {
          secrets?: Array<{ name: string; tls_certificate: { certificate_chain: { filename: string } } }>;
        };
      };
      expect(out.static_resources.secrets?.map((x) => x.name)).toEqual(['ingress-cert']);
      expect(out.static_resources.secrets?.[0]?.tls_certificate.certificate_chain.filename).toBe(
        join(dir, 'tls', 'ingress.pem'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restarts every long-running service, the namespace-owning mesh container always', () => {
    expect(services['mesh']?.restart).toBe('always');
    for (const [name, s] of Object.entries(services)) {
      if (s.profiles?.includes('load')) continue;
      expect(['always', 'unless-stopped'], `${name} restart policy`).toContain(s.restart);
    }
  });

  it('runs the meshscope image as a non-root user that owns the collector data directory', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // The last USER comes after the build steps that need root, and the data directory is chowned to it.
    expect(dockerfile.lastIndexOf('USER')).toBeGreaterThan(dockerfile.lastIndexOf('npm ci'));
    expect(dockerfile).toMatch(new RegExp(`chown -R ${user}:${user} /var/lib/meshscope`));
  });
});
