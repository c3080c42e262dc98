/**
 * Steps run one after another in the order they were added, whatever order
 * the work they wait on finishes in: a stream's results are handed over in
 * utterance order although the engine batches and may answer out of order.
 * The one ordering layer, for live streams and files alike.
 */
export class Ordered {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Runs `step` after every step added before it; a failing step does not stop later ones. */
  then(step: () => void | Promise<void>): Promise<void> {
    this.pending++;
    const next = this.tail.then(step).catch(this.onError).finally(() => void this.pending--);
    this.tail = next;
    return next;
  }

  /** Steps added and not yet run. */
  get size(): number {
    return this.pending;
  }

  /** Resolves once every step added so far has run. */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.tail;
      await seen;
    } while (seen !== this.tail);
  }
}
