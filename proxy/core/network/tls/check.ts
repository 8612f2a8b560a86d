// Checks every piece of TLS material a config names before anything is built (the bootstrap at
// load, a listener or cluster arriving over xDS): each problem as `<field path>: <what>`, all at
// once. Secrets that come from a file or ADS later are not required to be there yet (Envoy's
// listener warms until they arrive); what is named inline or in static_resources.secrets must load.
import type { ClusterConfig, ListenerConfig } from '../../../api/schema.js';
import { downstreamTlsContextOf, type SecretConfig, upstreamTlsContextOf } from '../../../api/tls.js';
import { TlsMaterialError } from '../../../errors.js';
import { loadCertificate, loadValidation } from './material.js';
import { SecretManager } from './secret-manager.js';
import { ClientTlsContext, ServerTlsContext } from './tls-context.js';

const ignore = (): void => {};

function attempt(problems: string[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof TlsMaterialError) problems.push(err.message);
    else throw err;
  }
}

/** Problems with `secrets`; returns the ones that load, for the contexts' check. */
function checkSecrets(secrets: readonly SecretConfig[], at: string, problems: string[]): SecretConfig[] {
  const good: SecretConfig[] = [];
  secrets.forEach((s, i) => {
    if (checkSecret(s, `${at}[${i}]`, problems)) good.push(s);
  });
  return good;
}

function checkSecret(s: SecretConfig, f: string, problems: string[]): boolean {
  const before = problems.length;
  attempt(problems, () => {
    if (s.tls_certificate !== undefined) loadCertificate(s.tls_certificate, `${f}.tls_certificate`);
    if (s.validation_context !== undefined) loadValidation(s.validation_context, `${f}.validation_context`);
  });
  return problems.length === before;
}

function checkListener(l: ListenerConfig, at: string, secrets: SecretManager, problems: string[]): void {
  const chains: Array<[string, ListenerConfig['filter_chains'][number]]> = l.filter_chains.map((c, i) => [
    `${at}.filter_chains[${i}]`,
    c,
  ]);
  if (l.default_filter_chain !== undefined) chains.push([`${at}.default_filter_chain`, l.default_filter_chain]);
  for (const [path, chain] of chains) {
    const tls = downstreamTlsContextOf(chain.transport_socket);
    if (tls !== null)
      attempt(problems, () =>
        new ServerTlsContext(tls, `${path}.transport_socket.typed_config`, secrets, ignore).close(),
      );
  }
}

function checkCluster(c: ClusterConfig, at: string, secrets: SecretManager, problems: string[]): void {
  const sockets: Array<[string, ClusterConfig['transport_socket']]> = [[`${at}.transport_socket`, c.transport_socket]];
  c.transport_socket_matches?.forEach((m, i) =>
    sockets.push([`${at}.transport_socket_matches[${i}].transport_socket`, m.transport_socket]),
  );
  for (const [path, socket] of sockets) {
    const tls = upstreamTlsContextOf(socket);
    if (tls !== null)
      attempt(problems, () => new ClientTlsContext(tls, `${path}.typed_config`, secrets, ignore).close());
  }
}

/** Every TLS material problem of a bootstrap's static resources. */
export function bootstrapTlsProblems(b: {
  static_resources?: { listeners?: ListenerConfig[]; clusters?: ClusterConfig[]; secrets?: SecretConfig[] };
}): string[] {
  const problems: string[] = [];
  const sr = b.static_resources;
  if (sr === undefined) return problems;
  const good = checkSecrets(sr.secrets ?? [], 'static_resources.secrets', problems);
  const manager = new SecretManager(good);
  try {
    sr.listeners?.forEach((l, i) => checkListener(l, `static_resources.listeners[${i}]`, manager, problems));
    sr.clusters?.forEach((c, i) => checkCluster(c, `static_resources.clusters[${i}]`, manager, problems));
  } finally {
    manager.close();
  }
  return problems;
}

/** Problems of one listener or cluster received over xDS (its SDS secrets come later). */
export function resourceTlsProblems(kind: 'listener' | 'cluster', resource: ListenerConfig | ClusterConfig): string[] {
  const problems: string[] = [];
  const manager = new SecretManager();
  try {
    if (kind === 'listener') checkListener(resource as ListenerConfig, 'listener', manager, problems);
    else checkCluster(resource as ClusterConfig, 'cluster', manager, problems);
  } finally {
    manager.close();
  }
  return problems;
}

/** Problems of a Secret received over SDS/ADS: a NACK's error_detail; the last good one stays. */
export function secretProblems(secret: SecretConfig): string[] {
  const problems: string[] = [];
  checkSecret(secret, `secret '${secret.name}'`, problems);
  return problems;
}
