// `meshscope up`: parses flags and runs the local observable mesh until SIGTERM/SIGINT.
import { parseFlags } from './flags.js';
import { findPrometheus, startMesh, UpError } from '../up/index.js';

const USAGE = `usage: meshscope up [--mesh examples/shop/mesh.yaml] [--state-dir .meshscope] [--data DIR]
         [--xds 127.0.0.1:18000] [--xds-api GRPC|REST] [--collector-http 127.0.0.1:16686]
         [--prometheus 127.0.0.1:9090 | --no-prometheus] [--ready-timeout 60]
         [--tls-cert FILE --tls-key FILE]   the front proxy's HTTPS certificate (one is generated otherwise)
`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags('up', USAGE, argv, {
    mesh: { type: 'string', default: 'examples/shop/mesh.yaml' },
    'state-dir': { type: 'string', default: '.meshscope' },
    data: { type: 'string' },
    xds: { type: 'string', default: '127.0.0.1:18000' },
    'xds-api': { type: 'string', default: 'GRPC' },
    'collector-http': { type: 'string', default: '127.0.0.1:16686' },
    prometheus: { type: 'string', default: '127.0.0.1:9090' },
    'no-prometheus': { type: 'boolean', default: false },
    'ready-timeout': { type: 'string', default: '60' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  });
  if (typeof values === 'number') return values;
  const tlsCert = values['tls-cert'];
  const tlsKey = values['tls-key'];
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    process.stderr.write('meshscope up: --tls-cert and --tls-key go together\n');
    return 2;
  }
  const xdsApi = values['xds-api'].toUpperCase();
  if (xdsApi !== 'GRPC' && xdsApi !== 'REST') {
    process.stderr.write(`meshscope up: --xds-api must be GRPC or REST, got '${values['xds-api']}'\n`);
    return 2;
  }
  const timeoutS = Number(values['ready-timeout']);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    process.stderr.write(
      `meshscope up: --ready-timeout must be a positive number of seconds, got '${values['ready-timeout']}'\n`,
    );
    return 2;
  }

  // Signals are handled from the start: Ctrl-C while components are still starting stops
  // those already running instead of orphaning them.
  const aborted = new AbortController();
  let signalled = false;
  let wake: () => void = () => {};
  const onSignal = (): void => {
    signalled = true;
    aborted.abort();
    wake();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const began = Date.now();
    process.stdout.write(`meshscope up: starting the mesh from ${values.mesh}\n`);
    if (!values['no-prometheus'] && findPrometheus() === null) {
      process.stdout.write(
        'meshscope up: prometheus is not on PATH; running without it (the proxies still serve /stats/prometheus)\n',
      );
    }
    let mesh: Awaited<ReturnType<typeof startMesh>>;
    try {
      mesh = await startMesh({
        meshPath: values.mesh,
        stateDir: values['state-dir'],
        ...(values.data !== undefined ? { dataDir: values.data } : {}),
        xds: values.xds,
        xdsApi,
        collectorHttp: values['collector-http'],
        prometheus: values['no-prometheus'] ? null : values.prometheus,
        readyTimeoutMs: timeoutS * 1000,
        ...(tlsCert !== undefined && tlsKey !== undefined ? { ingressTls: { cert: tlsCert, key: tlsKey } } : {}),
        // Progress while starting, then crashes, recoveries and mesh edits as they happen.
        onEvent: (e) => {
          const bad = e.kind === 'crash' || e.kind === 'mesh-edit-refused';
          (bad ? process.stderr : process.stdout).write(`meshscope up: ${e.message}\n`);
        },
        signal: aborted.signal,
      });
    } catch (err) {
      // Typed errors of up and of the mesh loader carry a stable MS_ERR_* code and a message
      // that already names what and where; anything else is a bug and keeps its stack.
      const code = (err as { code?: unknown }).code;
      if (err instanceof UpError || (err instanceof Error && typeof code === 'string' && code.startsWith('MS_ERR_'))) {
        process.stderr.write(`meshscope up: ${String(code)}: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    const frontUrls = mesh.components().find((c) => c.kind === 'front-proxy')?.urls ?? [];
    const front = frontUrls[0];
    const https = frontUrls.find((u) => u.startsWith('https:'));
    const tls = mesh.ingressTls;
    const httpsHint =
      https === undefined || tls === null
        ? ''
        : `HTTPS (h2 or HTTP/1.1): curl ${tls.ca === null ? '' : `--cacert ${tls.ca} `}${https} ` +
          `(certificate ${tls.certificateChain}${tls.ca === null ? '' : `, CA ${tls.ca}`})\n`;
    process.stdout.write(
      `\n${mesh.table()}\n${httpsHint}ready in ${((Date.now() - began) / 1000).toFixed(1)} s. ` +
        `Try: ${front !== undefined ? `curl ${front} · ` : ''}npm run load · npx meshscope status. ` +
        'Ctrl-C (or npx meshscope down) stops everything.\n',
    );
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (signalled) resolve();
    });
    process.stdout.write('meshscope up: stopping\n');
    await mesh.stop();
    process.stdout.write('meshscope up: stopped\n');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
