/**
 * Audio of one stream, addressed in stream time (samples since the stream
 * began). Old audio is dropped from the front once the segmenter no longer
 * needs it, so memory is bounded by speech length, not stream length.
 *
 * Dropping only moves a start offset; the held audio is moved to the front
 * when an append would run past the end, and only if that frees at least
 * half the array. So a sample is moved at most about once, however often the
 * front is dropped (it used to be moved on every drop).
 */
export class StreamBuffer {
  private data = new Float32Array(8192);
  /** Index in data of stream time `base`. */
  private off = 0;
  private len = 0;
  /** Stream time of data[off]. */
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
    if (this.off + this.len + samples.length > this.data.length) {
      if (this.len + samples.length <= this.data.length / 2) {
        this.data.copyWithin(0, this.off, this.off + this.len);
      } else {
        const next = new Float32Array(Math.max(this.data.length * 2, this.len + samples.length));
        next.set(this.data.subarray(this.off, this.off + this.len));
        this.data = next;
      }
      this.off = 0;
    }
    this.data.set(samples, this.off + this.len);
    this.len += samples.length;
  }

  /** Copy of [from, to) in stream time, clamped to what is held. */
  slice(from: number, to: number): Float32Array {
    const a = Math.max(0, from - this.base);
    const b = Math.min(this.len, to - this.base);
    return b > a ? this.data.slice(this.off + a, this.off + b) : new Float32Array(0);
  }

  /** View (no copy) of [from, to); valid until the next append or drop. */
  view(from: number, to: number): Float32Array {
    return this.data.subarray(this.off + from - this.base, this.off + to - this.base);
  }

  dropBefore(pos: number): void {
    const n = Math.min(this.len, pos - this.base);
    if (n <= 0) return;
    this.off += n;
    this.len -= n;
    this.base += n;
    if (this.len === 0) this.off = 0;
    // Give memory back after a long utterance: idle sessions should be small.
    if (this.data.length > 32_768 && this.len < this.data.length / 4) {
      const next = new Float32Array(Math.max(8192, this.len * 2));
      next.set(this.data.subarray(this.off, this.off + this.len));
      this.data = next;
      this.off = 0;
    }
  }
}
