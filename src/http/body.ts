/** At most `running` jobs at once; up to `waiting` more queue for a slot, beyond that callers are told no. */
export class JobSlots {
  private busy = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly running: number,
    private readonly waiting: number,
  ) {}

  /** Resolves with the function that frees the slot, or null when the line is full. */
  async acquire(): Promise<(() => void) | null> {
    if (this.busy >= this.running) {
      if (this.queue.length >= this.waiting) return null;
      await new Promise<void>((r) => this.queue.push(r));
    } else this.busy++;
    // A woken waiter inherits the slot of the job that finished, so busy is unchanged.
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const next = this.queue.shift();
      if (next) next();
      else this.busy--;
    };
  }
}
