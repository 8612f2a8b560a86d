// Watches the mesh file. Editors save by rename or truncate-and-write, so the directory is
// watched (inotify) and events for the file are debounced; each settled change is loaded
// and validated, and only a valid mesh replaces the current one.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadMeshFile } from './mesh/validate.js';
import type { Mesh } from './mesh/schema.js';

export interface MeshWatcherOptions {
  path: string;
  debounceMs: number;
  onMesh(mesh: Mesh): void;
  onError(err: Error): void;
}

export class MeshWatcher {
  readonly #o: MeshWatcherOptions;
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> = Promise.resolve();

  constructor(o: MeshWatcherOptions) {
    this.#o = o;
    const file = basename(o.path);
    this.#watcher = watch(dirname(resolve(o.path)), (_event, name) => {
      if (name !== null && name.toString() !== file) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#reload(), o.debounceMs);
    });
  }

  #reload(): void {
    // Loads run one after another so an older read never overwrites a newer one.
    this.#loading = this.#loading.then(async () => {
      try {
        this.#o.onMesh(await loadMeshFile(this.#o.path));
      } catch (err) {
        this.#o.onError(err as Error);
      }
    });
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher.close();
  }
}
