// Extension registry, Envoy-style: every extension registers under its canonical name (e.g.
// `envoy.filters.http.router`) and the `@type` URLs of its config message, together with a zod
// schema for that config and a factory. The config loader validates `typed_config` against the
// schema before any factory runs; unknown names are load errors. Duplicates are refused.
import type { z } from 'zod';
import { DuplicateExtensionError } from '../errors.js';
import type { ExtensionSchema, ExtensionSchemaLookup } from '../api/extension-schemas.js';

export interface Extension<Product, Context> extends ExtensionSchema {
  /** Canonical Envoy name, e.g. `envoy.access_loggers.stdout`. */
  readonly name: string;
  /** Full `type.googleapis.com/...` URLs of the config messages this extension accepts. */
  readonly typeUrls: readonly string[];
  /** Validates `typed_config` (including its `@type` key); run at load, before any factory. */
  readonly configSchema: z.ZodType;
  /** Builds the shared, immutable product from an already validated config. */
  create(rawConfig: unknown, context: Context): Product;
}

/** Declares an extension whose factory receives the schema's typed output (defaults applied). */
export function defineExtension<S extends z.ZodType, Product, Context>(definition: {
  name: string;
  typeUrls: readonly string[];
  configSchema: S;
  terminal?: boolean;
  create(config: z.output<S>, context: Context): Product;
}): Extension<Product, Context> {
  return {
    name: definition.name,
    typeUrls: definition.typeUrls,
    configSchema: definition.configSchema,
    ...(definition.terminal === undefined ? {} : { terminal: definition.terminal }),
    create: (raw, context) => definition.create(definition.configSchema.parse(raw ?? {}), context),
  };
}

export class ExtensionRegistry<Product, Context> implements ExtensionSchemaLookup {
  readonly category: string;
  #byName = new Map<string, Extension<Product, Context>>();
  #byTypeUrl = new Map<string, Extension<Product, Context>>();

  constructor(category: string) {
    this.category = category;
  }

  register(extension: Extension<Product, Context>): void {
    if (this.#byName.has(extension.name)) throw new DuplicateExtensionError(this.category, extension.name);
    for (const url of extension.typeUrls) {
      if (this.#byTypeUrl.has(url)) throw new DuplicateExtensionError(this.category, url);
    }
    this.#byName.set(extension.name, extension);
    for (const url of extension.typeUrls) this.#byTypeUrl.set(url, extension);
  }

  /** Envoy resolves by the `@type` of `typed_config` when present, else by name. */
  lookup(name: string | undefined, typeUrl: string | undefined): Extension<Product, Context> | undefined {
    if (typeUrl !== undefined) return this.#byTypeUrl.get(typeUrl);
    return name === undefined ? undefined : this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }
}
