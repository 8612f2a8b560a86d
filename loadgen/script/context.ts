// State shared by the k6 modules of every VU (TestContext) and the per-VU state they read
// (VuState). The modules are built per VU over these, so a module call never looks up "the
// current VU" globally: VUs interleave on one event loop.
import type { MetricRegistry, Tags } from '../metrics/registry.js';
import type { BuiltinMetrics } from '../metrics/builtin.js';
import type { HttpTransport } from '../http/client.js';
import type { CookieJar } from '../http/cookies.js';
import type { SlowestRequests } from '../tracing.js';
import type { GroupTree } from './groups.js';

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
  /** Test start, performance.now() clock. */
  readonly startedAt: number;
  abort(reason: string): void;
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
  /** Pending sleep to cut short on interruption. */
  sleepCancel: (() => void) | null;
  responseCallback: ((status: number) => boolean) | null;
  /**
   * Bytes this VU sent and received since the last flush. Modules add to it; the VU emits it as
   * data_sent/data_received once per iteration (and after setup/teardown), as k6 does.
   */
  readonly network: { sent: number; received: number };
}
