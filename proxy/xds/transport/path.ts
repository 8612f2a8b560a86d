// File-based subscriptions (`path_config_source`), as Envoy's dynamic-config-fs example:
// the file holds a DiscoveryResponse (YAML or JSON, `resources` with `@type`), and it is
// re-read whenever it (or the directory, for atomic renames) changes. Each resource is read
// through its Envoy message as Envoy's loader does (codec.ts `asEnvoyReadsIt`). There is no ACK; a
// rejected file leaves the last good configuration in force.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DiscoveryRequestJson, Transport, TransportHandler } from './types.js';
import { asEnvoyReadsIt, type JsonMap } from '../proto/codec.js';

function readAsEnvoy(resource: JsonMap): JsonMap {
  return resource !== null && typeof resource === 'object' && !Array.isArray(resource)
    ? asEnvoyReadsIt(resource)
    : resource;
}

export class PathTransport implements Transport {
  readonly keepsRequests = true;
  readonly #path: string;
  readonly #typeUrl: string;
  readonly #handler: TransportHandler;
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | undefined;
  #lastHash = '';
  #started = false;

  constructor(path: string, typeUrl: string, handler: TransportHandler) {
    this.#path = resolve(path);
    this.#typeUrl = typeUrl;
    this.#handler = handler;
    const file = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), (_e, name) => {
      if (name !== null && name.toString() !== file) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#read(), 20);
    });
    queueMicrotask(() => handler.onStreamStart());
  }

  send(_request: DiscoveryRequestJson): void {
    if (this.#started) return;
    this.#started = true;
    this.#handler.onConnected();
    void this.#read();
  }

  async #read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      this.#handler.onDisconnected(`${this.#path}: ${(err as Error).message}`);
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    if (hash === this.#lastHash) return;
    this.#lastHash = hash;
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      // An unparsable file is delivered as a response with no usable resources so the
      // client counts and reports the rejection like any other.
      this.#handler.onResponse({
        version_info: hash,
        resources: [{ '@type': 'invalid', error: `${this.#path}: ${(err as Error).message}` }],
        type_url: this.#typeUrl,
        nonce: hash,
      });
      return;
    }
    const d = (doc ?? {}) as { version_info?: unknown; resources?: unknown };
    const resources = Array.isArray(d.resources) ? (d.resources as JsonMap[]).map(readAsEnvoy) : [];
    const version = typeof d.version_info === 'string' ? d.version_info : hash;
    this.#handler.onResponse({ version_info: version, resources, type_url: this.#typeUrl, nonce: hash });
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher.close();
  }
}
