// Schema of the bootstrap's `layered_runtime` (envoy.config.bootstrap.v3.LayeredRuntime),
// validated before any runtime object is built (proxy/runtime/parse.ts reports every problem
// at once with its full path), and of the fractional percents runtime keys may override.
import { z } from 'zod';

const diskLayerSchema = z.strictObject({
  symlink_root: z.string().min(1),
  subdirectory: z.string().default(''),
  append_service_cluster: z.boolean().default(false),
});

function checkStaticValue(value: unknown, path: Array<string | number>, ctx: z.RefinementCtx): void {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) checkStaticValue(child, [...path, key], ctx);
    return;
  }
  ctx.addIssue({
    code: 'custom',
    path,
    message: 'invalid runtime entry value (expected a string, number, boolean or object)',
  });
}

const staticLayerSchema = z.record(z.string(), z.unknown()).superRefine((layer, ctx) => {
  for (const [key, value] of Object.entries(layer)) checkStaticValue(value, [key], ctx);
});

const LAYER_KINDS = ['static_layer', 'disk_layer', 'admin_layer'] as const;

const layerSchema = z
  .strictObject({
    name: z.string().min(1),
    static_layer: staticLayerSchema.optional(),
    disk_layer: diskLayerSchema.optional(),
    admin_layer: z.strictObject({}).optional(),
  })
  .superRefine(
    (layer, ctx) => {
      const set = LAYER_KINDS.filter((kind) => (layer as Record<string, unknown>)[kind] !== undefined);
      if (set.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: `exactly one of ${LAYER_KINDS.join(', ')} is required (got ${set.length === 0 ? 'none' : set.join(', ')})`,
        });
      }
    },
    { when: () => true },
  );

// Cross-layer checks run even when a layer has its own errors (`when`), so one load reports
// everything; the input may then be malformed, hence the defensive reads.
export const layeredRuntimeSchema = z.strictObject({ layers: z.array(layerSchema).default([]) }).superRefine(
  (runtime, ctx) => {
    const layers: unknown = (runtime as { layers?: unknown }).layers;
    if (!Array.isArray(layers)) return;
    const seen = new Set<string>();
    let adminLayers = 0;
    layers.forEach((layer: unknown, index) => {
      if (layer === null || typeof layer !== 'object') return;
      const { name, admin_layer: admin } = layer as { name?: unknown; admin_layer?: unknown };
      if (typeof name === 'string') {
        if (seen.has(name))
          ctx.addIssue({ code: 'custom', path: ['layers', index, 'name'], message: `duplicate layer name '${name}'` });
        seen.add(name);
      }
      if (admin !== undefined && ++adminLayers > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['layers', index, 'admin_layer'],
          message: 'at most one admin layer may be specified',
        });
      }
    });
  },
  { when: () => true },
);

export type LayeredRuntimeConfig = z.output<typeof layeredRuntimeSchema>;
export type RuntimeLayerConfig = LayeredRuntimeConfig['layers'][number];
export type DiskLayerConfig = z.output<typeof diskLayerSchema>;

/** What Envoy runs when the bootstrap has no `layered_runtime`: an empty static layer, then an admin layer. */
export const DEFAULT_LAYERED_RUNTIME: LayeredRuntimeConfig = {
  layers: [
    { name: 'base', static_layer: {} },
    { name: 'admin', admin_layer: {} },
  ],
};

const DENOMINATOR_NAMES = ['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const;

/** envoy.type.v3.FractionalPercent; the denominator may be its name or its enum number, as in proto JSON. */
export const fractionalPercentSchema = z
  .strictObject({
    numerator: z.number().int().min(0).max(4294967295).default(0),
    denominator: z
      .union([z.enum(DENOMINATOR_NAMES), z.number().int().min(0).max(2)])
      .default('HUNDRED')
      .transform((d) => (typeof d === 'number' ? DENOMINATOR_NAMES[d]! : d)),
  })
  .superRefine((fraction, ctx) => {
    const limit =
      fraction.denominator === 'HUNDRED' ? 100 : fraction.denominator === 'TEN_THOUSAND' ? 10_000 : 1_000_000;
    // Envoy clamps a numerator above its denominator; accepting it silently would hide a typo.
    if (fraction.numerator > limit)
      ctx.addIssue({
        code: 'custom',
        path: ['numerator'],
        message: `must be at most ${limit} for denominator ${fraction.denominator}`,
      });
  });

/** envoy.config.core.v3.RuntimeFractionalPercent: a default fraction a runtime key may override. */
export const runtimeFractionalPercentSchema = z.strictObject({
  default_value: fractionalPercentSchema,
  runtime_key: z.string().optional(),
});
