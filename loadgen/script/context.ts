// State shared by the k6 modules of every VU (TestContext) and the per-VU state they read
// (VuState). The modules are built per VU over these, so a module call never looks up "the
// current VU" globally: VUs interleave on one event loop.
import type { MetricRegistry, Tags } from '../metrics/registry.js';
import type { BuiltinMetrics } from '../metrics/builtin.js';
import type { HttpTransport } from '../http/client.js';
import type { CookieJar } from '../http/cookies.js';
import type { SlowestRequests } from '../tracing.js';
import type { GroupTree } from './groups.js';
import type { Settle } from './loader.js';
import type { VuEventLoop } from './event-loop.js';
import type { SecretSource } from './modules/secrets.js';

export interface IterationSpan {
  readonly iteration: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

export interface TracingOptions {
  readonly propagator: 'w3c' | 'b3' | 'none';
  readonly sampling: number;
}

export interface TestContext {
  readonly registry: MetricRegistry;
  readonly metrics: BuiltinMetrics;
  readonly groups: GroupTree;
  readonly slowest: SlowestRequests;
  readonly tracing: TracingOptions;
  readonly userAgent: string;
  readonly maxRedirects: number;
  readonly discardResponseBodies: boolean;
  /** k6's `throw`, `httpDebug`, `batch`, `batchPerHost` and `rps` options, as k6/http applies them. */
  readonly httpOptions: HttpRunOptions;
  /** Options as the script exported them, for exec.test.options. */
  readonly scriptOptions: Readonly<Record<string, unknown>>;
  readonly sharedArrays: Map<string, readonly unknown[]>;
  /** Secret sources from `--secret-source`, parsed and read before the test starts (k6/secrets). */
  readonly secretSources?: readonly SecretSource[];
  /** Test start, performance.now() clock. */
  readonly startedAt: number;
  abort(reason: string): void;
  /** exec.test.fail(): the run goes on and ends with exit code 110 (k6's MarkedAsFailed). */
  markFailed(): void;
  log(level: 'info' | 'warn' | 'error' | 'debug', message: string, fields?: Record<string, string>): void;
  instance(): { vusActive: number; vusInitialized: number; iterationsCompleted: number; iterationsInterrupted: number };
}

export interface HttpRunOptions {
  /** A failed request throws instead of returning a Response with `error` set. */
  readonly throw: boolean;
  /** Log each request and response: their heads ('headers') or heads and bodies ('full'). */
  readonly debug: '' | 'headers' | 'full';
  /** Requests of one http.batch() in flight at once, in all and per host. */
  readonly batch: number;
  readonly batchPerHost: number;
  /** Resolves when the test-wide request rate (--rps) lets the next request go; null when unlimited. */
  readonly rateLimit: (() => Promise<void> | undefined) | null;
}

export interface ScenarioInfo {
  readonly name: string;
  readonly executor: string;
  /** Absolute start, performance.now() clock. */
  startedAt: number;
  /** Per scenario, across VUs. */
  iterations: number;
  progress(): number;
  readonly openModel: boolean;
}

export interface VuState {
  readonly idInTest: number;
  /** __ITER: the VU's iteration number within its current scenario. */
  iteration: number;
  iterationInInstance: number;
  env: Record<string, string>;
  scenario: ScenarioInfo | null;
  /** Global, scenario and VU tags plus `group`/`scenario`; replaced (not mutated) when they change. */
  tags: Tags;
  /** Tags the script set through exec.vu.tags; merged into `tags`. */
  readonly customTags: Record<string, string>;
  groupPath: string;
  /** Open model: how late this iteration started against its schedule (ms); 0 for closed models. */
  startLag: number;
  interrupted: boolean;
  readonly transport: HttpTransport;
  readonly cookies: CookieJar;
  /** Callback work (timers, sockets, streams) the current iteration waits for. */
  readonly loop: VuEventLoop;
  /** Pending sleep to cut short on interruption. */
  sleepCancel: (() => void) | null;
  responseCallback: ((status: number) => boolean) | null;
  /**
   * Bytes this VU sent and received since the last flush. Modules add to it; the VU emits it as
   * data_sent/data_received once per iteration (and after setup/teardown), as k6 does.
   */
  readonly network: { sent: number; received: number };
  /** Trace-context propagation for this VU's requests (k6/experimental/tracing); null: the test's. */
  tracing: TracingOptions | null;
  /**
   * The current iteration's span (k6/experimental/tracing's currentSpan()), made on first use;
   * the iteration's requests carry its trace id. `iteration` tells a stale one from the current.
   */
  span: IterationSpan | null;
  /** randomSeed(n): makes this VU's Math.random the deterministic sequence of n. */
  seedRandom: (seed: number) => void;
  /**
   * A promise of the VU's realm that `job.start(resolve, reject)` settles (set when its context is
   * made). What a module hands the script on a hot path should be of that realm: a promise of
   * another realm, awaited by the script, takes V8's foreign-thenable path (two more microtasks
   * and a `then` call).
   */
  settle: Settle;
  /**
   * promiseThen(promise, ok, fail): the VU realm's Promise.prototype.then, taken before the
   * script could replace it. On a promise of the script's realm it returns a promise of that realm
   * too, so a module that waits for the script's promise hands the script back one of its own
   * realm. (Not named `then`: that would make every VuState a thenable.)
   */
  promiseThen: (promise: unknown, ok: (value: unknown) => unknown, fail: (err: unknown) => unknown) => Promise<unknown>;
}

/** What a k6 module's factory receives when a VU first imports it. */
export interface ModuleContext {
  readonly test: TestContext;
  readonly vu: VuState;
  /** The script's directory: relative paths in init-context calls resolve against it. */
  readonly scriptDir: string;
  /** True while the VU runs its init code (k6 allows some calls only there). */
  readonly inInit: () => boolean;
  /** This VU's instance of another module (jslib modules build on k6/http and k6). */
  readonly require: (name: string) => unknown;
}
