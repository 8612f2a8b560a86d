import { defineConfig } from 'vitest/config';

// Integration tests start real servers and child processes on 127.0.0.1, so they get
// generous timeouts; the JSON report is what .ci/run counts passes and failures from.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', '{cli,proxy,control-plane,collector,loadgen,dashboards,examples}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Every built-in proxy extension, loaded before each test file (see the file).
    setupFiles: ['test/setup-extensions.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
  },
});
