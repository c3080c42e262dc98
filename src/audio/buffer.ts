/**
 * Audio of one stream, addressed in stream time (samples since the stream
 * began). Old audio is dropped from the front once the segmenter no longer
 * needs it, so memory is bounded by speech length, not stream length.
 */
export class StreamBuffer {
  private data = new Float32Array(8192);
  private len = 0;
  /** Stream time of data[0]. */
  private base = 0;

  get start(): number {
    return this.base;
  }
  get end(): number {
    return this.base + this.len;
  }
  get bufferedSamples(): number {
    return this.len;
  }

  append(samples: Float32Array): void {
    if (this.len + samples.length > this.data.length) {
      const next = new Float32Array(Math.max(this.data.length * 2, this.len + samples.length));
      next.set(this.data.subarray(0, this.len));
      this.data = next;
    }
    this.data.set(samples, this.len);
    this.len += samples.length;
  }

  /** Copy of [from, to) in stream time, clamped to what is held. */
  slice(from: number, to: number): Float32Array {
    const a = Math.max(0, from - this.base);
    const b = Math.min(this.len, to - this.base);
    return b > a ? this.data.slice(a, b) : new Float32Array(0);
  }

  /** View (no copy) of [from, to); valid until the next append or drop. */
  view(from: number, to: number): Float32Array {
    return this.data.subarray(from - this.base, to - this.base);
  }

  dropBefore(pos: number): void {
    const n = Math.min(this.len, pos - this.base);
    if (n <= 0) return;
    this.data.copyWithin(0, n, this.len);
    this.len -= n;
    this.base += n;
    // Give memory back after a long utterance: idle sessions should be small.
    if (this.data.length > 32_768 && this.len < this.data.length / 4) {
      this.data = this.data.slice(0, Math.max(8192, this.len * 2));
    }
  }
}
