// Envoy's SecretManager for one worker: where a TLS context's `*_sds_secret_config` gets its
// Secret. A reference without `sds_config` names one of `static_resources.secrets`; one with
// `path_config_source` (or the older `path`) reads a file of Secret resources and watches its
// directory (or `watched_directory`), so a certificate replaced by an atomic rename is picked up;
// one with `ads` gets what the xDS client pushes (after the main process checked it: a bad one
// is NACKed there and never arrives). Subscribers are called on every change and keep the last
// good secret themselves when a new one does not load; they return why they refused it (a
// must-staple certificate without a staple is fine as material, wrong for a server that serves
// it), so an ADS update a subscriber refused is NACKed too.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { type SdsSecretConfig, type SecretConfig, secretSchema } from '../../../api/tls.js';

/** Called with each new version of a secret; returns why it was refused, undefined when taken. */
export type SecretListener = (secret: SecretConfig) => string | undefined;

export interface SecretHandle {
  /** The secret as last received, null while none arrived (a file not there yet, ADS not yet pushed). */
  current(): SecretConfig | null;
  cancel(): void;
}

/** Where a subscribed secret comes from, as /certs and errors name it. */
export type SecretSource = 'static' | 'file' | 'ads';

interface Entry {
  secret: SecretConfig | null;
  readonly listeners: Set<SecretListener>;
}

const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export class SecretManager {
  readonly #static = new Map<string, SecretConfig>();
  readonly #dynamic = new Map<string, Entry>();
  readonly #files = new Map<string, FileSecretSource>();

  constructor(statics: readonly SecretConfig[] = []) {
    this.addStatic(statics);
  }

  /** `static_resources.secrets` (names are unique: the schema checked). */
  addStatic(statics: readonly SecretConfig[]): void {
    for (const s of statics) this.#static.set(s.name, s);
  }

  /** Subscribes to the secret `ref` names; `onUpdate` runs on each change after this call. */
  subscribe(ref: SdsSecretConfig, onUpdate: SecretListener): SecretHandle {
    const sds = ref.sds_config;
    if (sds === undefined) {
      const s = this.#static.get(ref.name) ?? null;
      return { current: () => s, cancel: () => {} };
    }
    const path = sds.path_config_source?.path ?? sds.path;
    if (path !== undefined) {
      let file = this.#files.get(path);
      if (file === undefined) {
        file = new FileSecretSource(path, sds.path_config_source?.watched_directory?.path ?? dirname(path));
        this.#files.set(path, file);
      }
      return file.subscribe(ref.name, onUpdate);
    }
    let entry = this.#dynamic.get(ref.name);
    if (entry === undefined) this.#dynamic.set(ref.name, (entry = { secret: null, listeners: new Set() }));
    const e = entry;
    e.listeners.add(onUpdate);
    return { current: () => e.secret, cancel: () => e.listeners.delete(onUpdate) };
  }

  /** An ADS update (its material already checked by the main process); returns what subscribers refused. */
  updateDynamic(secret: SecretConfig): string[] {
    let entry = this.#dynamic.get(secret.name);
    if (entry === undefined) this.#dynamic.set(secret.name, (entry = { secret: null, listeners: new Set() }));
    entry.secret = secret;
    const refused: string[] = [];
    for (const fn of entry.listeners) {
      const why = fn(secret);
      if (why !== undefined) refused.push(why);
    }
    return refused;
  }

  /** Stops watching files (worker shutdown). */
  close(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
  }
}

/**
 * A file of Secret resources, as Envoy's path-based SDS reads it: `{ resources: [Secret...] }`
 * (JSON or YAML). Re-read whenever something in its directory changes; a file that does not
 * parse (half written) changes nothing, and the next event reads it again.
 */
class FileSecretSource {
  readonly #path: string;
  readonly #entries = new Map<string, Entry>();
  #watcher: FSWatcher | null = null;

  constructor(path: string, directory: string) {
    this.#path = path;
    try {
      this.#watcher = watch(directory, { persistent: false }, () => this.#reload());
      this.#watcher.on('error', () => {
        // The directory went away: the last good secrets stay.
      });
    } catch {
      // No directory yet: the secret stays missing, as Envoy's warming listener would.
    }
    this.#reload();
  }

  subscribe(name: string, onUpdate: SecretListener): SecretHandle {
    let entry = this.#entries.get(name);
    if (entry === undefined) {
      entry = { secret: this.#read()?.get(name) ?? null, listeners: new Set() };
      this.#entries.set(name, entry);
    }
    const e = entry;
    e.listeners.add(onUpdate);
    return { current: () => e.secret, cancel: () => e.listeners.delete(onUpdate) };
  }

  #read(): Map<string, SecretConfig> | null {
    try {
      return parseSecretFile(readFileSync(this.#path, 'utf8'));
    } catch {
      return null;
    }
  }

  #reload(): void {
    const secrets = this.#read();
    if (secrets === null) return;
    for (const [name, entry] of this.#entries) {
      const s = secrets.get(name);
      if (s === undefined) continue;
      entry.secret = s;
      // Listeners compare the material themselves: a directory event need not be a change.
      for (const fn of entry.listeners) fn(s);
    }
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }
}

/** `{ resources: [...] }` of Secret resources; throws on anything else. */
export function parseSecretFile(text: string): Map<string, SecretConfig> {
  const doc = (text.trimStart().startsWith('{') ? JSON.parse(text) : requireYaml().parse(text)) as {
    resources?: unknown[];
  };
  const out = new Map<string, SecretConfig>();
  for (const r of doc?.resources ?? []) {
    const s = secretSchema.parse(r);
    out.set(s.name, s);
  }
  return out;
}
