// Work queued during an event-loop turn, done at the turn's end by one setImmediate for all of it
// (after every I/O callback of the turn), in the order it was queued. The proxy's HTTP/1 writers,
// its HTTP/2 connections and the load generator's connections write this way: a turn that completes
// many responses sends what follows them together, so the peer is woken once for them rather than
// once per write (each wake-up, an interprocessor interrupt in a VM, costs the writer's own time),
// and an xDS push to a thousand sidecars costs one Immediate, not a thousand.
export class EndOfTurn<T> {
  #due: T[] = [];
  #spare: T[] = [];
  readonly #each: (item: T) => void;
  readonly #run = (): void => this.#flush();

  /** `each` does one item's work; it is called once per `schedule`. */
  constructor(each: (item: T) => void) {
    this.#each = each;
  }

  /** `item`'s work is done at the end of this turn, after the items scheduled before it. */
  schedule(item: T): void {
    if (this.#due.length === 0) setImmediate(this.#run);
    this.#due.push(item);
  }

  #flush(): void {
    // Items scheduled while flushing go to the other list and the next turn's flush.
    const items = this.#due;
    this.#due = this.#spare;
    // One item's failure must not leave the others' work undone: each is done, then the first
    // error is thrown as its own Immediate would have thrown it.
    let failure: unknown = null;
    for (let i = 0; i < items.length; i++) {
      try {
        this.#each(items[i]!);
      } catch (err) {
        failure ??= err;
      }
    }
    items.length = 0;
    this.#spare = items;
    if (failure !== null) throw failure;
  }
}
