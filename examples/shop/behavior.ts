// Per-endpoint latency and error rate, from the shop's defaults overridden by environment:
//   SHOP_LATENCY_MS, SHOP_JITTER_MS, SHOP_ERROR_PERCENT   every endpoint of this service
//   SHOP_BEHAVIOR='{"POST /charge": {"latency_ms": 40, "error_percent": 5}}'   per endpoint
// Validated at start; a bad value stops the service with the variable and key named.
import { z } from 'zod';
import { ShopError } from './errors.js';
import { type Endpoint, SHOP } from './shop.js';

const override = z.strictObject({
  latency_ms: z.number().min(0).max(60_000).optional(),
  jitter_ms: z.number().min(0).max(60_000).optional(),
  error_percent: z.number().min(0).max(100).optional(),
});
const perEndpoint = z.record(z.string().regex(/^(GET|POST) \/\S*$/, 'keys are "METHOD /path"'), override);

function numberVar(env: NodeJS.ProcessEnv, name: string, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new ShopError('MS_ERR_SHOP_ENV', `${name}=${raw}: expected a number from 0 to ${max}`);
  return n;
}

export function applyBehavior(endpoints: readonly Endpoint[], env: NodeJS.ProcessEnv): Endpoint[] {
  const latency = numberVar(env, 'SHOP_LATENCY_MS', 60_000);
  const jitter = numberVar(env, 'SHOP_JITTER_MS', 60_000);
  const errors = numberVar(env, 'SHOP_ERROR_PERCENT', 100);
  let specific: z.output<typeof perEndpoint> = {};
  if (env['SHOP_BEHAVIOR'] !== undefined && env['SHOP_BEHAVIOR'] !== '') {
    let json: unknown;
    try {
      json = JSON.parse(env['SHOP_BEHAVIOR']);
    } catch (err) {
      throw new ShopError('MS_ERR_SHOP_ENV', `SHOP_BEHAVIOR: not JSON (${(err as Error).message})`);
    }
    const parsed = perEndpoint.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `SHOP_BEHAVIOR.${i.path.join('.')}: ${i.message}`);
      throw new ShopError('MS_ERR_SHOP_ENV', issues.join('\n'));
    }
    specific = parsed.data;
    // `meshscope up` hands one environment to every service, so a key names an endpoint of
    // whichever service has it and the others pass it by; only a key no shop service has is
    // a mistake.
    const shopWide = new Set(Object.values(SHOP).flatMap((list) => list.map((e) => `${e.method} ${e.path}`)));
    const unknown = Object.keys(specific).filter((k) => !shopWide.has(k));
    if (unknown.length > 0)
      throw new ShopError(
        'MS_ERR_SHOP_ENV',
        `SHOP_BEHAVIOR: no endpoint ${unknown.join(', ')} in any shop service (have ${[...shopWide].join(', ')})`,
      );
  }
  return endpoints.map((e) => {
    const o = specific[`${e.method} ${e.path}`] ?? {};
    return {
      ...e,
      latencyMs: o.latency_ms ?? latency ?? e.latencyMs,
      jitterMs: o.jitter_ms ?? jitter ?? e.jitterMs,
      errorPercent: o.error_percent ?? errors ?? e.errorPercent,
    };
  });
}
