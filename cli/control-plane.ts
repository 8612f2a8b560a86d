// `meshscope control-plane`: serve a mesh over xDS, or render one node's bootstrap.
import { parseFlags, untilStopSignal } from './flags.js';
import { stringify } from 'yaml';
import {
  loadMeshFile,
  renderDynamicBootstrap,
  renderStaticBootstrap,
  startControlPlane,
  type JsonObject,
} from '../control-plane/index.js';
import { MeshscopeError } from '../shared/errors.js';

const USAGE = `usage: meshscope control-plane --mesh mesh.yaml [--xds 127.0.0.1:18000] [--ca-cert root.pem --ca-key root.key] [--svid-ttl 1h]
       meshscope control-plane render --mesh mesh.yaml --node NAME [--format yaml|json]
       meshscope control-plane bootstrap --mesh mesh.yaml --node NAME [--xds 127.0.0.1:18000] [--api GRPC|DELTA_GRPC|REST] [--format yaml|json]
                 [--tls-cert FILE --tls-key FILE | --tls-dir DIR]
       meshscope control-plane validate --mesh mesh.yaml

  (serve)     compile the mesh per sidecar and serve it over gRPC ADS (state of the world and
              delta) and REST-JSON xDS;
              the file is watched and changes are pushed; with mtls on, it is the mesh CA
              (a generated root, or --ca-cert/--ca-key) issuing each sidecar's certificate
              over SDS, valid for --svid-ttl (1h) and renewed at half of it
  render      print NODE's whole configuration as a static Envoy bootstrap
  bootstrap   print the dynamic bootstrap NODE starts with to fetch its config over xDS; an
              ingress with an https_port serves --tls-cert/--tls-key, or a certificate for
              localhost made under --tls-dir (with the CA that signed it, kept while valid)
  validate    check the mesh file and print every problem with its path
`;

function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1] as string, port } : undefined;
}

function print(obj: JsonObject, format: string): void {
  process.stdout.write(format === 'json' ? `${JSON.stringify(obj, null, 2)}\n` : stringify(obj, { lineWidth: 0 }));
}

export async function run(argv: string[]): Promise<number> {
  const sub = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : 'serve';
  const rest = sub === 'serve' ? argv : argv.slice(1);
  if (!['serve', 'render', 'bootstrap', 'validate'].includes(sub)) {
    process.stderr.write(`meshscope control-plane: unknown subcommand '${sub}'\n${USAGE}`);
    return 2;
  }
  const values = parseFlags('control-plane', USAGE, rest, {
    mesh: { type: 'string' },
    xds: { type: 'string' },
    node: { type: 'string' },
    api: { type: 'string' },
    format: { type: 'string' },
    'ca-cert': { type: 'string' },
    'ca-key': { type: 'string' },
    'svid-ttl': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-dir': { type: 'string' },
  });
  if (typeof values === 'number') return values;
  const fail = (message: string): number => {
    process.stderr.write(`meshscope control-plane: ${message}\n`);
    return 2;
  };
  if (values.mesh === undefined) return fail(`--mesh is required\n${USAGE}`);
  const format = values.format ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') return fail(`--format: expected yaml or json, got '${format}'`);
  const xds = parseHostPort(values.xds ?? '127.0.0.1:18000');
  if (xds === undefined) return fail(`--xds: expected host:port, got '${values.xds}'`);
  const api = values.api ?? 'GRPC';
  if (api !== 'GRPC' && api !== 'DELTA_GRPC' && api !== 'REST')
    return fail(`--api: expected GRPC, DELTA_GRPC or REST, got '${api}'`);
  if ((sub === 'render' || sub === 'bootstrap') && values.node === undefined) return fail(`${sub} needs --node NAME`);
  if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined))
    return fail('--ca-cert and --ca-key go together (the root certificate and its private key)');
  const tlsCert = values['tls-cert'];
  const tlsKey = values['tls-key'];
  const tlsDir = values['tls-dir'];
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    return fail('--tls-cert and --tls-key go together (the ingress certificate and its private key)');
  if (tlsDir !== undefined && tlsCert !== undefined)
    return fail('--tls-dir makes a certificate; --tls-cert gives one: pick one');
  if ((tlsDir !== undefined || tlsCert !== undefined) && sub !== 'bootstrap')
    return fail('--tls-cert, --tls-key and --tls-dir belong to the bootstrap subcommand');
  const ttl = /^(\d+)(s|m|h)$/.exec(values['svid-ttl'] ?? '1h');
  if (ttl === null || Number(ttl[1]) === 0)
    return fail(`--svid-ttl: expected a duration such as 30m or 1h, got '${values['svid-ttl']}'`);
  const svidTtlMs = Number(ttl[1]) * (ttl[2] === 's' ? 1000 : ttl[2] === 'm' ? 60_000 : 3_600_000);

  try {
    if (sub === 'validate') {
      const mesh = await loadMeshFile(values.mesh);
      process.stdout.write(`${values.mesh}: mesh '${mesh.name}' is valid (${mesh.services.length} services)\n`);
      return 0;
    }
    if (sub === 'render') {
      print(renderStaticBootstrap(await loadMeshFile(values.mesh), values.node as string), format);
      return 0;
    }
    if (sub === 'bootstrap') {
      const mesh = await loadMeshFile(values.mesh);
      // Only an ingress with an HTTPS port serves a certificate; other nodes ignore the flags.
      const ingress =
        mesh.ingress?.https_port !== undefined && (tlsDir !== undefined || tlsCert !== undefined)
          ? await (await import('../up/index.js')).ingressCertificate(
              tlsDir ?? '.',
              tlsCert !== undefined && tlsKey !== undefined ? { cert: tlsCert, key: tlsKey } : undefined,
            )
          : undefined;
      print(
        renderDynamicBootstrap(mesh, values.node as string, {
          xds: `${xds.host}:${xds.port}`,
          api,
          ...(ingress === undefined
            ? {}
            : { ingressCertificate: { certificateChain: ingress.certificateChain, privateKey: ingress.privateKey } }),
        }),
        format,
      );
      return 0;
    }
    const cp = await startControlPlane({
      meshPath: values.mesh,
      host: xds.host,
      port: xds.port,
      svidTtlMs,
      ...(values['ca-cert'] === undefined ? {} : { caCertificatePath: values['ca-cert'], caKeyPath: values['ca-key'] }),
    });
    process.stdout.write(
      `meshscope control-plane: mesh '${cp.mesh.name}' served over xDS (gRPC ADS and REST-JSON) on ${cp.host}:${cp.port}\n`,
    );
    await untilStopSignal();
    await cp.close();
    return 0;
  } catch (err) {
    if (err instanceof MeshscopeError) {
      process.stderr.write(`meshscope control-plane: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
