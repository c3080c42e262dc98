/**
 * The audio sent but not yet acknowledged, by stream sample: trimmed at each
 * acknowledgement, bounded (the oldest goes first; `dropped` counts it, since
 * a replay can then no longer cover it).
 */
export class ReplayBuffer {
  private chunks: { at: number; pcm: Int16Array }[] = [];
  samples = 0;
  dropped = 0;
  /** Stream sample up to which the server made the audio durable. */
  durable = 0;

  /** `keep`: samples kept behind the durable point, replayed as the VAD's pre-roll. */
  constructor(
    private readonly limit: number,
    private readonly keep = 0,
  ) {}

  /** Stream sample of the oldest audio kept. */
  get oldest(): number {
    return this.chunks[0]?.at ?? this.durable;
  }

  add(at: number, pcm: Int16Array): void {
    if (pcm.length === 0) return;
    this.chunks.push({ at, pcm: pcm.slice() });
    this.samples += pcm.length;
    while (this.samples > this.limit && this.chunks.length > 1) {
      const old = this.chunks.shift()!;
      this.samples -= old.pcm.length;
      this.dropped += Math.max(0, old.at + old.pcm.length - Math.max(old.at, this.durable));
      // Too much unacknowledged audio: the replay can no longer cover what is dropped here.
      this.durable = Math.max(this.durable, old.at + old.pcm.length);
    }
  }

  acknowledge(until: number): void {
    if (until <= this.durable) return;
    this.durable = until;
    while (this.chunks.length > 0 && this.chunks[0]!.at + this.chunks[0]!.pcm.length <= until - this.keep) this.samples -= this.chunks.shift()!.pcm.length;
  }

  /** The kept audio from stream sample `at` on, as one block. */
  from(at: number): Int16Array {
    const parts = this.chunks.filter((c) => c.at + c.pcm.length > at).map((c) => (c.at < at ? c.pcm.subarray(at - c.at) : c.pcm));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  reset(): void {
    this.chunks = [];
    this.samples = 0;
    this.durable = 0;
  }
}
