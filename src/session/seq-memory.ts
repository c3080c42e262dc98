/**
 * The next transcript `seq` of each clientId, kept across sessions so that a
 * clientId that reconnects, is cleaned up or reaped keeps counting where it
 * left off (monitors can tell a gap from a restart). Bounded: the clientIds
 * not seen for the longest time are forgotten first.
 *
 * With `redis_url` the count is also written through to Redis (`persist`) and
 * read back when a stream arrives on a node (`seed`), so a stream that moves
 * to another node continues its seq: one node owns a stream at a time, and it
 * writes each new value before the transcript carrying it goes out.
 */
export class SeqMemory {
  private readonly next = new Map<string, number>();

  constructor(
    private readonly capacity: number,
    private readonly persist?: (clientId: string, next: number) => void,
  ) {}

  /** Returns the seq for the clientId's next transcript and counts it. */
  take(clientId: string): number {
    const seq = this.next.get(clientId) ?? 0;
    this.remember(clientId, seq + 1);
    this.persist?.(clientId, seq + 1);
    return seq;
  }

  /** The seq the clientId's next transcript will get (interims carry it), without counting it. */
  peek(clientId: string): number {
    return this.next.get(clientId) ?? 0;
  }

  /** Another node counted this clientId last: continue from its count. */
  seed(clientId: string, next: number): void {
    this.remember(clientId, next);
  }

  get size(): number {
    return this.next.size;
  }

  private remember(clientId: string, next: number): void {
    // Re-inserting moves the clientId to the young end of the Map's order.
    this.next.delete(clientId);
    this.next.set(clientId, next);
    if (this.next.size > this.capacity) this.next.delete(this.next.keys().next().value!);
  }
}
