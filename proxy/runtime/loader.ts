// The runtime loader owned by the main process. It keeps the last value of every layer,
// rebuilds one immutable snapshot whenever a layer changes (disk symlink swap, admin
// override) and hands it to subscribers: workers receive it as plain data (RuntimeSnapshotWire).
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Gauge, Counter, Scope } from '../stats/types.js';
import type { LayeredRuntimeConfig, RuntimeLayerConfig } from '../api/runtime.js';
import { diskLayer, mergeAdminValues, staticLayer } from './layers.js';
import { createEntry, RuntimeSnapshot, type RuntimeEntry, type RuntimeLayerValues } from './snapshot.js';
import { RuntimeNoAdminLayerError } from './errors.js';

/** What request-path code holds: a snapshot read per use, swapped whole on change. */
export interface Runtime {
  snapshot(): RuntimeSnapshot;
}

/** A snapshot as plain data: layer names with their raw values, cheap to post to a worker. */
export interface RuntimeSnapshotWire {
  layers: Array<{ name: string; entries: Array<[string, string]> }>;
}

export function snapshotToWire(snapshot: RuntimeSnapshot): RuntimeSnapshotWire {
  return {
    layers: snapshot.layers.map((layer) => ({
      name: layer.name,
      entries: [...layer.values].map(([key, entry]): [string, string] => [key, entry.raw]),
    })),
  };
}

export function snapshotFromWire(wire: RuntimeSnapshotWire): RuntimeSnapshot {
  return new RuntimeSnapshot(
    wire.layers.map((layer) => ({
      name: layer.name,
      values: new Map(layer.entries.map(([key, raw]): [string, RuntimeEntry] => [key, createEntry(raw)])),
    })),
  );
}

/** A worker's copy of the main process's runtime, replaced whenever the main process pushes one. */
export class RuntimeReplica implements Runtime {
  #current: RuntimeSnapshot;
  constructor(initial: RuntimeSnapshotWire | RuntimeSnapshot = new RuntimeSnapshot([])) {
    this.#current = initial instanceof RuntimeSnapshot ? initial : snapshotFromWire(initial);
  }
  snapshot(): RuntimeSnapshot {
    return this.#current;
  }
  apply(wire: RuntimeSnapshotWire): void {
    this.#current = snapshotFromWire(wire);
  }
}

export interface LayeredRuntimeOptions {
  /** `--service-cluster`, appended to disk layers with `append_service_cluster`. */
  serviceCluster?: string;
  /** Root scope; the loader records `runtime.*` stats under it. */
  stats?: Scope;
  /** Called when a disk layer fails to (re)load; the previous value of that layer is kept. */
  onError?: (error: Error) => void;
}

interface RuntimeStats {
  loadSuccess: Counter;
  loadError: Counter;
  numKeys: Gauge;
  numLayers: Gauge;
  adminOverridesActive: Gauge;
}

type LayerSlot =
  | { kind: 'static'; values: RuntimeLayerValues }
  | { kind: 'disk'; name: string; path: string; symlinkRoot: string; values: RuntimeLayerValues | undefined }
  | { kind: 'admin'; name: string; values: ReadonlyMap<string, RuntimeEntry> };

function slotFor(layer: RuntimeLayerConfig, serviceCluster: string): LayerSlot {
  if (layer.static_layer !== undefined) return { kind: 'static', values: staticLayer(layer.name, layer.static_layer) };
  if (layer.disk_layer !== undefined) {
    const disk = layer.disk_layer;
    let path = join(disk.symlink_root, disk.subdirectory);
    if (disk.append_service_cluster) path = join(path, serviceCluster);
    return { kind: 'disk', name: layer.name, path, symlinkRoot: disk.symlink_root, values: undefined };
  }
  return { kind: 'admin', name: layer.name, values: new Map() };
}

export class LayeredRuntime implements Runtime {
  readonly #slots: LayerSlot[];
  readonly #listeners = new Set<(snapshot: RuntimeSnapshot) => void>();
  readonly #watchers: FSWatcher[] = [];
  readonly #stats: RuntimeStats | undefined;
  readonly #onError: (error: Error) => void;
  #current = new RuntimeSnapshot([]);
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed = false;

  private constructor(config: LayeredRuntimeConfig, options: LayeredRuntimeOptions) {
    this.#slots = config.layers.map((layer) => slotFor(layer, options.serviceCluster ?? ''));
    this.#onError = options.onError ?? (() => undefined);
    const scope = options.stats?.scope('runtime');
    this.#stats =
      scope === undefined
        ? undefined
        : {
            loadSuccess: scope.counter('load_success'),
            loadError: scope.counter('load_error'),
            numKeys: scope.gauge('num_keys', 'never_import'),
            numLayers: scope.gauge('num_layers', 'never_import'),
            adminOverridesActive: scope.gauge('admin_overrides_active', 'never_import'),
          };
  }

  /** Loads every layer, then watches each disk layer's symlink for an atomic swap. */
  static async create(config: LayeredRuntimeConfig, options: LayeredRuntimeOptions = {}): Promise<LayeredRuntime> {
    const runtime = new LayeredRuntime(config, options);
    await runtime.reload();
    runtime.#watchSymlinks();
    return runtime;
  }

  snapshot(): RuntimeSnapshot {
    return this.#current;
  }

  /** Called with every new snapshot (e.g. to post it to workers); returns an unsubscribe function. */
  subscribe(listener: (snapshot: RuntimeSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** `/runtime_modify`: merges overrides into the admin layer; an empty value removes a key. */
  mergeValues(overrides: Iterable<readonly [string, string]>): void {
    const slot = this.#slots.find((s): s is Extract<LayerSlot, { kind: 'admin' }> => s.kind === 'admin');
    if (slot === undefined) throw new RuntimeNoAdminLayerError();
    slot.values = mergeAdminValues(slot.values, overrides);
    this.#stats?.adminOverridesActive.set(slot.values.size === 0 ? 0 : 1);
    this.#publish();
  }

  /** Re-reads every disk layer and publishes a new snapshot; concurrent calls coalesce. */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        await this.#loadDiskLayers();
      } while (this.#reloadAgain && !this.#closed);
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.length = 0;
    this.#listeners.clear();
  }

  async #loadDiskLayers(): Promise<void> {
    let failed = false;
    for (const slot of this.#slots) {
      if (slot.kind !== 'disk') continue;
      try {
        slot.values = await diskLayer(slot.name, slot.path);
      } catch (err) {
        failed = true;
        this.#onError(err as Error);
      }
    }
    if (failed) this.#stats?.loadError.inc();
    else this.#stats?.loadSuccess.inc();
    this.#publish();
  }

  #publish(): void {
    if (this.#closed) return;
    const layers: RuntimeLayerValues[] = [];
    for (const slot of this.#slots) {
      if (slot.kind === 'static') layers.push(slot.values);
      else if (slot.kind === 'disk') {
        if (slot.values !== undefined) layers.push(slot.values);
      } else layers.push({ name: slot.name, values: slot.values });
    }
    this.#current = new RuntimeSnapshot(layers);
    this.#stats?.numKeys.set(this.#current.size);
    this.#stats?.numLayers.set(layers.length);
    for (const listener of this.#listeners) listener(this.#current);
  }

  // A swap replaces the symlink by rename, which the symlink's parent directory reports under
  // the symlink's name; watching the symlink itself would follow it to the old target.
  #watchSymlinks(): void {
    const byDirectory = new Map<string, Set<string>>();
    for (const slot of this.#slots) {
      if (slot.kind !== 'disk') continue;
      const dir = dirname(slot.symlinkRoot);
      const names = byDirectory.get(dir) ?? new Set<string>();
      names.add(basename(slot.symlinkRoot));
      byDirectory.set(dir, names);
    }
    for (const [dir, names] of byDirectory) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename === null || names.has(filename.toString())) void this.reload();
        });
        watcher.on('error', (err) => this.#onError(err));
        this.#watchers.push(watcher);
      } catch (err) {
        this.#onError(err as Error);
      }
    }
  }
}
