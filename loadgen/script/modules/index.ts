// The factories that build each k6 module for a VU, by the names in ./catalog.ts. A VU builds a
// module the first time its script imports it, so per-VU state lives in the module instance.
import type { ModuleContext } from '../context.js';
import { createK6Module } from './k6.js';
import { createHttpModule } from './http.js';
import { createMetricsModule } from './metrics.js';
import { createExecutionModule } from './execution.js';
import { createDataModule } from './data.js';
import { createEncodingModule } from './encoding.js';
import { createHtmlModule } from './html.js';
import { createCryptoModule } from './crypto.js';
import { createGrpcModule } from './grpc/index.js';
import { createWsModule } from './ws.js';
import { createWebSocketsModule } from './websockets.js';
import { createTimersModule } from './timers.js';
import { createFsModule } from './fs.js';
import { createSecretsModule } from './secrets.js';
import { createCsvModule } from './csv.js';
import { createStreamsModule } from './streams.js';
import { createWebCryptoModule } from './webcrypto.js';
import { createTextEncodingModule } from './text-encoding.js';
import { createTracingModule } from './experimental-tracing.js';
import { createK6UtilsModule } from './jslib/k6-utils.js';
import { createHttpxModule } from './jslib/httpx.js';
import { createK6SummaryModule } from './jslib/k6-summary.js';
import { createK6TestingModule } from './jslib/k6-testing.js';
import { createK6ChaiModule } from './jslib/k6chaijs.js';
import { createPapaparseModule } from './jslib/papaparse.js';
import { createFormDataModule } from './jslib/formdata.js';
import { createTotpModule } from './jslib/totp.js';

export type ModuleFactory = (ctx: ModuleContext) => Record<string, unknown>;

export const MODULE_FACTORIES: Readonly<Record<string, ModuleFactory>> = {
  k6: (c) => createK6Module(c.test, c.vu),
  'k6/http': (c) => createHttpModule(c.test, c.vu),
  'k6/metrics': (c) => createMetricsModule(c.test, c.vu),
  'k6/execution': (c) => createExecutionModule(c.test, c.vu, c.inInit),
  'k6/data': (c) => createDataModule(c.test),
  'k6/encoding': () => createEncodingModule(),
  'k6/html': () => createHtmlModule(),
  'k6/crypto': () => createCryptoModule(),
  'k6/net/grpc': createGrpcModule,
  // k6's name for k6/net/grpc with streams before they moved there (deprecated, same API).
  'k6/experimental/grpc': createGrpcModule,
  'k6/ws': createWsModule,
  'k6/websockets': createWebSocketsModule,
  'k6/experimental/websockets': createWebSocketsModule,
  'k6/timers': createTimersModule,
  'k6/experimental/fs': createFsModule,
  'k6/secrets': createSecretsModule,
  'k6/experimental/csv': createCsvModule,
  'k6/experimental/streams': () => createStreamsModule(),
  'k6/experimental/webcrypto': () => createWebCryptoModule(),
  'k6/experimental/encoding': () => createTextEncodingModule(),
  'k6/experimental/tracing': createTracingModule,
  'jslib/k6-utils': createK6UtilsModule,
  'jslib/httpx': createHttpxModule,
  'jslib/k6-summary': () => createK6SummaryModule(),
  'jslib/k6-testing': createK6TestingModule,
  'jslib/k6chaijs': createK6ChaiModule,
  'jslib/papaparse': () => createPapaparseModule(),
  'jslib/formdata': () => createFormDataModule(),
  'jslib/totp': () => createTotpModule(),
  'jslib/url': () => {
    const mod: Record<string, unknown> = { URL, URLSearchParams };
    mod.default = mod;
    return mod;
  },
};
