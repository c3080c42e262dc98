// Streaming sample-rate converter shared by the browser AudioWorklet
// (public/pcm-worklet.js) and the TypeScript client (src/client/index.ts).
// Plain ES module, no dependencies, so the page needs no build step.
//
// Method: band-limited interpolation with a Kaiser-windowed sinc (linear
// phase, symmetric kernel). The low-pass cutoff sits at 0.95 of the lower
// Nyquist frequency (7.6 kHz when going to 16 kHz) with 16 zero crossings on
// each side, so downsampling 48 or 44.1 kHz does not alias and upsampling
// (8 kHz telephony) does not image. The kernel is tabulated once (256 points
// per zero crossing, linearly interpolated) and history is carried across
// calls, so a stream cut into chunks of any size resamples exactly like the
// whole stream at once. Latency: `half` input samples (about 1 ms at 48 kHz).

const OVERSAMPLE = 256;

function besselI0(x) {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

export class Resampler {
  /**
   * @param {number} inRate input sample rate (Hz)
   * @param {number} [outRate] output sample rate (Hz), 16000 by default
   * @param {{zeros?: number, rolloff?: number, beta?: number}} [opts]
   */
  constructor(inRate, outRate = 16000, opts = {}) {
    if (!(inRate > 0) || !(outRate > 0)) throw new RangeError("sample rates must be positive");
    this.inRate = inRate;
    this.outRate = outRate;
    this.ratio = inRate / outRate; // input samples per output sample
    this.passthrough = inRate === outRate;
    const zeros = opts.zeros ?? 16;
    const rolloff = opts.rolloff ?? 0.95;
    const beta = opts.beta ?? 8.6;
    // Cutoff relative to the input Nyquist frequency.
    this.fc = Math.min(1, outRate / inRate) * rolloff;
    // Kernel half-width in input samples.
    this.half = Math.ceil(zeros / this.fc);
    const n = this.half * OVERSAMPLE + 2;
    this.table = new Float32Array(n);
    const i0b = besselI0(beta);
    for (let i = 0; i < n; i++) {
      const x = i / OVERSAMPLE; // distance in input samples
      const r = x / this.half;
      if (r >= 1) break;
      const w = besselI0(beta * Math.sqrt(1 - r * r)) / i0b;
      const a = Math.PI * this.fc * x;
      this.table[i] = this.fc * (x === 0 ? 1 : Math.sin(a) / a) * w;
    }
    // History: buf[k] holds input sample (base + k). It starts with `half`
    // zeros so the first outputs see silence before the stream.
    this.buf = new Float32Array(Math.max(4096, 4 * this.half));
    this.base = -this.half;
    this.len = this.half;
    this.produced = 0; // output samples emitted so far
  }

  /** Kernel value at distance x (input samples). */
  kernel(x) {
    const p = Math.abs(x) * OVERSAMPLE;
    const i = Math.floor(p);
    if (i + 1 >= this.table.length) return 0;
    const f = p - i;
    return this.table[i] * (1 - f) + this.table[i + 1] * f;
  }

  /**
   * Resamples the next chunk of the stream; returns the output ready so far.
   * @param {Float32Array} input
   * @returns {Float32Array}
   */
  process(input) {
    if (this.passthrough) return Float32Array.from(input);
    this.append(input);
    return this.drain(false);
  }

  /**
   * End of stream: returns the remaining output (the kernel's tail sees zeros
   * after the last sample). The resampler can be used again afterwards as a
   * fresh stream.
   * @returns {Float32Array}
   */
  flush() {
    if (this.passthrough) return new Float32Array(0);
    const end = this.base + this.len; // input samples received
    this.append(new Float32Array(this.half + 1));
    const out = this.drain(true, end);
    this.reset();
    return out;
  }

  reset() {
    this.buf.fill(0);
    this.base = -this.half;
    this.len = this.half;
    this.produced = 0;
  }

  /** @param {Float32Array} input */
  append(input) {
    if (this.len + input.length > this.buf.length) {
      const next = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
  }

  /**
   * @param {boolean} final
   * @param {number} [inputEnd] number of real input samples (final only)
   * @returns {Float32Array}
   */
  drain(final, inputEnd = 0) {
    const half = this.half;
    const have = this.base + this.len; // absolute index one past the last held sample
    // Output n sits at input position t = n * ratio; it needs samples up to floor(t) + half.
    let last; // exclusive bound on output index
    if (final) last = Math.ceil(inputEnd / this.ratio - 1e-9);
    else last = Math.floor((have - half - 1) / this.ratio) + 1;
    const count = Math.max(0, last - this.produced);
    const out = new Float32Array(count);
    const buf = this.buf;
    const table = this.table;
    for (let k = 0; k < count; k++) {
      const t = (this.produced + k) * this.ratio;
      const i0 = Math.floor(t);
      const frac = t - i0;
      let acc = 0;
      // Taps j = i0 - half + 1 .. i0 + half; distance d = t - j.
      const from = i0 - half + 1 - this.base;
      for (let m = 0; m < 2 * half; m++) {
        const d = Math.abs(frac + half - 1 - m) * OVERSAMPLE;
        const i = d | 0;
        if (i + 1 >= table.length) continue;
        const f = d - i;
        acc += buf[from + m] * (table[i] * (1 - f) + table[i + 1] * f);
      }
      out[k] = acc;
    }
    this.produced += count;
    // Keep what the next output still needs.
    const keepFrom = Math.floor(this.produced * this.ratio) - half + 1;
    const drop = Math.min(this.len, Math.max(0, keepFrom - this.base));
    if (drop > 0) {
      buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.base += drop;
    }
    return out;
  }
}

/**
 * Float samples in [-1, 1] → little-endian PCM16 (clipped).
 * @param {Float32Array} samples
 * @returns {Int16Array}
 */
export function floatToPcm16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    out[i] = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767);
  }
  return out;
}
