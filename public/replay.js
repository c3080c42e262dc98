// Failover for senders (the TS client and this page share it): the audio sent
// but not yet acknowledged by the server (`audio_ack`, or a final's `end`), by
// stream sample, replayed after a reconnect. Trimmed at each acknowledgement
// (keeping `keep` samples before it, replayed as the VAD's pre-roll) and
// bounded: the oldest goes first and `dropped` counts what a replay can no
// longer cover. Plain JS so the page needs no build step.

export class ReplayBuffer {
  constructor(limit, keep = 0) {
    this.limit = limit;
    this.keep = keep;
    this.chunks = [];
    this.samples = 0;
    this.dropped = 0;
    /** Stream sample up to which the server made the audio durable. */
    this.durable = 0;
  }

  /** Stream sample of the oldest audio kept. */
  get oldest() {
    return this.chunks.length > 0 ? this.chunks[0].at : this.durable;
  }

  add(at, pcm) {
    if (pcm.length === 0) return;
    this.chunks.push({ at, pcm: pcm.slice() });
    this.samples += pcm.length;
    while (this.samples > this.limit && this.chunks.length > 1) {
      const old = this.chunks.shift();
      this.samples -= old.pcm.length;
      // Too much unacknowledged audio: the replay can no longer cover what is dropped here.
      this.dropped += Math.max(0, old.at + old.pcm.length - Math.max(old.at, this.durable));
      this.durable = Math.max(this.durable, old.at + old.pcm.length);
    }
  }

  acknowledge(until) {
    if (until <= this.durable) return;
    this.durable = until;
    while (this.chunks.length > 0 && this.chunks[0].at + this.chunks[0].pcm.length <= until - this.keep) this.samples -= this.chunks.shift().pcm.length;
  }

  /**
   * Where a reconnect resumes: `resumeFrom` (the durable point, stream samples),
   * `preroll` samples of acknowledged audio before it, and `startAt` (where the
   * replay begins).
   */
  resumePoint(maxPreroll) {
    const preroll = Math.max(0, Math.min(maxPreroll, this.durable - this.oldest));
    return { resumeFrom: this.durable, preroll, startAt: this.durable - preroll };
  }

  /** The kept audio from stream sample `at` on, as one block. */
  from(at) {
    const parts = this.chunks.filter((c) => c.at + c.pcm.length > at).map((c) => (c.at < at ? c.pcm.subarray(at - c.at) : c.pcm));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  reset() {
    this.chunks = [];
    this.samples = 0;
    this.durable = 0;
  }
}
