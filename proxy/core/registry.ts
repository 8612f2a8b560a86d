// Extension registry, Envoy-style: every extension registers under its canonical name (e.g.
// `envoy.filters.http.router`) and the `@type` URLs of its config message, together with a zod
// schema for that config and a factory. The config loader validates `typed_config` against the
// schema before any factory runs; unknown names are load errors. Duplicates are refused.
import type { z } from 'zod';
import { DuplicateExtensionError, ExtensionNotLoadedError } from '../errors.js';
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
  /** Declared and registered names, in declaration order (error messages list them). */
  #names = new Set<string>();
  /** Names and type URLs declared but whose module has not registered them yet. */
  #pending = new Set<string>();

  constructor(category: string) {
    this.category = category;
  }

  /**
   * Makes a name and its type URLs known before the module that registers them is loaded (see
   * proxy/extensions/catalog.ts): it is listed as supported, and looking it up before its
   * module loaded is a programming error, not an unsupported extension.
   */
  declare(name: string, typeUrls: readonly string[]): void {
    this.#names.add(name);
    if (!this.#byName.has(name)) this.#pending.add(name);
    for (const url of typeUrls) if (!this.#byTypeUrl.has(url)) this.#pending.add(url);
  }

  register(extension: Extension<Product, Context>): void {
    if (this.#byName.has(extension.name)) throw new DuplicateExtensionError(this.category, extension.name);
    for (const url of extension.typeUrls) {
      if (this.#byTypeUrl.has(url)) throw new DuplicateExtensionError(this.category, url);
    }
    this.#byName.set(extension.name, extension);
    this.#names.add(extension.name);
    this.#pending.delete(extension.name);
    for (const url of extension.typeUrls) {
      this.#byTypeUrl.set(url, extension);
      this.#pending.delete(url);
    }
  }

  /** Envoy resolves by the `@type` of `typed_config` when present, else by name. */
  lookup(name: string | undefined, typeUrl: string | undefined): Extension<Product, Context> | undefined {
    const key = typeUrl ?? name;
    if (key === undefined) return undefined;
    if (this.#pending.has(key)) throw new ExtensionNotLoadedError(this.category, key);
    return typeUrl !== undefined ? this.#byTypeUrl.get(typeUrl) : this.#byName.get(key);
  }

  names(): string[] {
    return [...this.#names];
  }
}
