// Envoy's `ssl.*` counters of a TLS listener or cluster: what every handshake ended in.
import type { Counter, Scope } from '../../../stats/types.js';

const SSL_COUNTERS = [
  'handshake',
  'connection_error',
  'fail_verify_error',
  'fail_verify_san',
  'fail_verify_cert_hash',
  'no_certificate',
  'fail_verify_no_cert',
  'session_reused',
  'ocsp_staple_requests',
  'ocsp_staple_responses',
  'ocsp_staple_omitted',
  'ocsp_staple_failed',
] as const;
type SslCounters = Record<(typeof SSL_COUNTERS)[number], Counter>;

/** Envoy's `ssl.*` counters of a listener or cluster. */
export class TlsStats {
  readonly #scope: () => Scope;
  #counters: SslCounters | null = null;

  /**
   * `scope` is asked on first use: a listener's is named after its bound address, known only
   * once it listens (`listener.127.0.0.1_10000.ssl.*`, an ephemeral port included).
   */
  constructor(scope: Scope | (() => Scope)) {
    this.#scope = typeof scope === 'function' ? scope : () => scope;
  }

  #get(): SslCounters {
    if (this.#counters === null) {
      const s = this.#scope().scope('ssl');
      this.#counters = Object.fromEntries(SSL_COUNTERS.map((n) => [n, s.counter(n)])) as SslCounters;
    }
    return this.#counters;
  }

  get handshake(): Counter {
    return this.#get().handshake;
  }
  get connectionError(): Counter {
    return this.#get().connection_error;
  }
  get failVerifyError(): Counter {
    return this.#get().fail_verify_error;
  }
  get failVerifySan(): Counter {
    return this.#get().fail_verify_san;
  }
  /** The peer's certificate matched none of verify_certificate_hash / verify_certificate_spki. */
  get failVerifyCertHash(): Counter {
    return this.#get().fail_verify_cert_hash;
  }
  /** `ocsp_staple_*`: handshakes whose client asked for a staple, and what each got. */
  counter(
    name: 'ocsp_staple_requests' | 'ocsp_staple_responses' | 'ocsp_staple_omitted' | 'ocsp_staple_failed',
  ): Counter {
    return this.#get()[name];
  }
  /** Handshakes that succeeded with no peer certificate (Envoy's: a server without mTLS counts every one). */
  get noCertificate(): Counter {
    return this.#get().no_certificate;
  }
  /** Handshakes refused for want of a peer certificate that was required. */
  get failVerifyNoCert(): Counter {
    return this.#get().fail_verify_no_cert;
  }
  /** Handshakes that resumed a session (abbreviated: no certificate sent or verified). */
  get sessionReused(): Counter {
    return this.#get().session_reused;
  }
}
