import type { ResourceKind } from '../translate/envoy.js';

/**
 * The push hold an xDS session (SotW or delta) keeps while its client's stream is backed up:
 * while held, mesh changes only mark their types; on release each marked type is handed back
 * once, so a client that fell behind gets the newest state, not every version in between.
 */
export class PushHold {
  #held: Set<ResourceKind> | null = null;

  /** Starts or ends the hold; ending it returns the types changed meanwhile (null if none). */
  set(hold: boolean): ReadonlySet<ResourceKind> | null {
    if (hold) {
      this.#held ??= new Set();
      return null;
    }
    const held = this.#held;
    this.#held = null;
    return held !== null && held.size > 0 ? held : null;
  }

  /** While held, keeps `changed` for the release and returns true; otherwise returns false. */
  absorb(changed: ReadonlySet<ResourceKind>): boolean {
    if (this.#held === null) return false;
    for (const kind of changed) this.#held.add(kind);
    return true;
  }
}
