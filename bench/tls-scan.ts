// `npm run bench:tls-scan`: a TLS scanner (Debian's testssl.sh, `apt-get install testssl.sh`)
// against a meshscope TLS listener built from a DownstreamTlsContext with Envoy's defaults (only
// a certificate and ALPN h2,http/1.1: no tls_params, so our default versions and cipher list).
// `-p -E -R -U`: offered protocols, ciphers per protocol, renegotiation, known vulnerabilities.
// The scan runs once per certificate key type (an ECDSA certificate offers only the ECDSA suites,
// an RSA one only the RSA ones). Prints a JSON verdict naming every finding at severity LOW or
// above and every scanner warning, and exits 1 when there is one (2 when the scan itself failed).
// Not in the test suite: a scan takes minutes and .ci/run does not install testssl.
// Knobs: BENCH_KEYS (default `ec,rsa`), TESTSSL (the scanner's path; default `testssl` or `testssl.sh` on PATH).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  type Peer,
  proxyBootstrap,
  startMeshscope,
  startNginxUpstream,
  stopAll,
  workDir,
  withDownstreamTls,
} from './lib/peers.js';
import { selfSignedP256 } from '../test/helpers/openssl.js';

type KeyType = 'ec' | 'rsa';
const KEYS = (process.env.BENCH_KEYS ?? 'ec,rsa').split(',').map((k) => k.trim()) as KeyType[];
for (const k of KEYS) if (k !== 'ec' && k !== 'rsa') throw new Error(`BENCH_KEYS: '${k}' is neither ec nor rsa`);

/** testssl.sh's severities, lowest first; LOW and above is a finding. */
const SEVERITIES = ['DEBUG', 'INFO', 'OK', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
const FINDING_FROM = SEVERITIES.indexOf('LOW');

interface TestsslEntry {
  id: string;
  severity: string;
  finding: string;
  cve?: string;
}

function scanner(): string {
  const named = process.env.TESTSSL;
  if (named !== undefined && named !== '') return named;
  for (const name of ['testssl', 'testssl.sh']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  throw new Error('no testssl.sh on PATH: apt-get install testssl.sh (or set TESTSSL)');
}

function makeCertificate(key: KeyType): { cert: string; key: string } {
  const dir = mkdtempSync(join(workDir, `scan-${key}-`));
  const out = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  const subject = '/CN=localhost';
  const extensions = ['subjectAltName=DNS:localhost,IP:127.0.0.1'];
  if (key === 'ec') selfSignedP256({ ...out, subject, days: 1, extensions });
  else {
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-keyout',
      out.key,
      '-out',
      out.cert,
      '-subj',
      subject,
      ...extensions.flatMap((e) => ['-addext', e]),
    ]);
    if (r.status !== 0) throw new Error(`openssl req (rsa) failed: ${String(r.stderr)}`);
  }
  return out;
}

async function startListener(upstreamPort: number, cert: string, key: string): Promise<Peer> {
  const port = await freePort();
  const b = withDownstreamTls(proxyBootstrap(port, upstreamPort), { cert, key, alpn: ['h2', 'http/1.1'] });
  return startMeshscope('meshscope-tls-scan', b, port, ['--concurrency', '1']);
}

interface ScanResult {
  key: KeyType;
  seconds: number;
  exitCode: number | null;
  protocolsOffered: string[];
  ciphersOffered: string[];
  /** Every protocol and vulnerability check's result (`secure_client_renego: OK not vulnerable`). */
  checks: Record<string, string>;
  findings: Array<{ id: string; severity: string; finding: string; cve?: string }>;
  warnings: Array<{ id: string; finding: string }>;
}

function scan(bin: string, port: number, key: KeyType): ScanResult {
  const json = join(mkdtempSync(join(workDir, 'testssl-')), 'scan.json');
  const started = Date.now();
  const r = spawnSync(
    bin,
    [
      '--quiet',
      '--color',
      '0',
      '--warnings',
      'off',
      '--nodns',
      'none',
      '--jsonfile',
      json,
      '-p',
      '-E',
      '-R',
      '-U',
      `127.0.0.1:${port}`,
    ],
    { encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (!existsSync(json)) throw new Error(`testssl wrote no JSON (exit ${r.status}): ${r.stderr || r.stdout}`);
  const entries = JSON.parse(readFileSync(json, 'utf8')) as TestsslEntry[];
  const level = (s: string): number => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  return {
    key,
    seconds: Math.round((Date.now() - started) / 1000),
    exitCode: r.status,
    protocolsOffered: entries.filter((e) => /^(SSLv|TLS1)/.test(e.id) && /^offered/.test(e.finding)).map((e) => e.id),
    ciphersOffered: entries.filter((e) => e.id.startsWith('cipher-')).map((e) => e.finding.replace(/\s+/g, ' ')),
    checks: Object.fromEntries(
      entries
        .filter((e) => !e.id.startsWith('cipher') && e.id !== 'scanTime' && e.id !== 'service')
        .map((e) => [e.id, `${e.severity} ${e.finding}`]),
    ),
    findings: entries
      .filter((e) => level(e.severity) >= FINDING_FROM)
      .map((e) => ({ id: e.id, severity: e.severity, finding: e.finding, ...(e.cve ? { cve: e.cve } : {}) })),
    warnings: entries.filter((e) => e.severity === 'WARN').map((e) => ({ id: e.id, finding: e.finding })),
  };
}

async function main(): Promise<void> {
  const bin = scanner();
  const upstream = await startNginxUpstream();
  const scans: ScanResult[] = [];
  try {
    for (const k of KEYS) {
      const { cert, key } = makeCertificate(k);
      const peer = await startListener(upstream.port, cert, key);
      try {
        scans.push(scan(bin, peer.port, k));
      } finally {
        await peer.stop();
      }
    }
  } finally {
    await stopAll();
  }
  const weak = scans.some((s) => s.findings.length > 0 || s.warnings.length > 0);
  const broken = scans.some((s) => s.protocolsOffered.length === 0);
  console.log(
    JSON.stringify(
      { scanner: bin, checks: '-p -E -R -U', verdict: broken ? 'scan failed' : weak ? 'weak' : 'clean', scans },
      null,
      2,
    ),
  );
  process.exitCode = broken ? 2 : weak ? 1 : 0;
}

main().catch(async (err: unknown) => {
  await stopAll();
  console.error(err);
  process.exit(2);
});
