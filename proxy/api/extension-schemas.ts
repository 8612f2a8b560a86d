// The schemas of extension configs (`typed_config` of listener filters, network filters, HTTP
// filters, access loggers, tracers) belong to the extensions, which register them with the
// core's registries. The API validates `{ name, typed_config }` references through lookups the
// core provides (proxy/core/extension-points.ts does at import), so this folder imports
// nothing from the core while the set of accepted names still grows with the registry.
import type { z } from 'zod';

/** What validation needs to know of a registered extension. */
export interface ExtensionSchema {
  readonly name: string;
  /** Validates `typed_config`, including its `@type` key. */
  readonly configSchema: z.ZodType;
  /**
   * Network filters only: a terminal filter takes the connection over (the HCM, direct_response)
   * and must be the last of its chain; a non-terminal one (connection_limit) must not be last.
   */
  readonly terminal?: boolean;
}

/** One extension category, resolved as Envoy does: by the `@type` of `typed_config`, else by name. */
export interface ExtensionSchemaLookup {
  /** As error messages name it: `HTTP filter`, `access logger` … */
  readonly category: string;
  lookup(name: string | undefined, typeUrl: string | undefined): ExtensionSchema | undefined;
  names(): string[];
}

export type ExtensionCategory = 'listenerFilters' | 'networkFilters' | 'httpFilters' | 'accessLoggers' | 'tracers';

const CATEGORY_NAMES: Record<ExtensionCategory, string> = {
  listenerFilters: 'listener filter',
  networkFilters: 'network filter',
  httpFilters: 'HTTP filter',
  accessLoggers: 'access logger',
  tracers: 'tracer',
};

const provided = new Map<ExtensionCategory, ExtensionSchemaLookup>();

/** Called once by the core with its registries; validation consults them at parse time. */
export function provideExtensionSchemas(lookups: Record<ExtensionCategory, ExtensionSchemaLookup>): void {
  for (const [category, lookup] of Object.entries(lookups) as Array<[ExtensionCategory, ExtensionSchemaLookup]>)
    provided.set(category, lookup);
}

/** The lookup for a category; before the core provided one, a category knows no extension. */
export function extensionSchemas(category: ExtensionCategory): ExtensionSchemaLookup {
  return provided.get(category) ?? { category: CATEGORY_NAMES[category], lookup: () => undefined, names: () => [] };
}
