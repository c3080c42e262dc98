/**
 * The next transcript `seq` of each clientId, kept across sessions so that a
 * clientId that reconnects, is cleaned up or reaped keeps counting where it
 * left off (monitors can tell a gap from a restart). Bounded: the clientIds
 * not seen for the longest time are forgotten first.
 */
export class SeqMemory {
  private readonly next = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** Returns the seq for the clientId's next transcript and counts it. */
  take(clientId: string): number {
    const seq = this.next.get(clientId) ?? 0;
    // Re-inserting moves the clientId to the young end of the Map's order.
    this.next.delete(clientId);
    this.next.set(clientId, seq + 1);
    if (this.next.size > this.capacity) this.next.delete(this.next.keys().next().value!);
    return seq;
  }

  /** The seq the clientId's next transcript will get (interims carry it), without counting it. */
  peek(clientId: string): number {
    return this.next.get(clientId) ?? 0;
  }

  get size(): number {
    return this.next.size;
  }
}
