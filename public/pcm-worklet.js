// AudioWorklet: microphone (the context's rate, often 48 kHz) → 16 kHz mono
// PCM16 chunks posted to the page, plus an input level per chunk.
// Runs on the audio rendering thread; per 128-frame render quantum it only
// allocates two small arrays (about 43 samples at 48 kHz).
import { Resampler, floatToPcm16 } from "./resampler.js";

const TARGET_RATE = 16000;

class Pcm16Writer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const chunkMs = options?.processorOptions?.chunkMs ?? 100;
    this.chunkSamples = Math.round((TARGET_RATE * chunkMs) / 1000);
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
    this.resampler = new Resampler(sampleRate, TARGET_RATE);
    this.chunk = new Int16Array(this.chunkSamples);
    this.fill = 0;
    this.sumSquares = 0;
    this.peak = 0;
    this.counted = 0;
    this.mono = new Float32Array(128);
    this.port.onmessage = (e) => {
      if (e.data === "flush") {
        this.push(this.resampler.flush());
        this.post(true);
      }
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    let samples = input[0];
    if (input.length > 1) {
      // Down-mix: the mean of the channels.
      if (this.mono.length !== samples.length) this.mono = new Float32Array(samples.length);
      const m = this.mono;
      m.fill(0);
      for (const ch of input) for (let i = 0; i < ch.length; i++) m[i] += ch[i] / input.length;
      samples = m;
    }
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      this.sumSquares += s * s;
      const a = s < 0 ? -s : s;
      if (a > this.peak) this.peak = a;
    }
    this.counted += samples.length;
    this.push(this.resampler.process(samples));
    return true;
  }

  push(out) {
    const pcm = floatToPcm16(out);
    let off = 0;
    while (off < pcm.length) {
      const n = Math.min(pcm.length - off, this.chunkSamples - this.fill);
      this.chunk.set(pcm.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.chunkSamples) this.post(false);
    }
  }

  post(final) {
    const rms = this.counted ? Math.sqrt(this.sumSquares / this.counted) : 0;
    const pcm = this.fill === this.chunkSamples ? this.chunk : this.chunk.slice(0, this.fill);
    // Transfer the buffer: no copy between threads.
    this.port.postMessage({ pcm: pcm.buffer, rms, peak: this.peak, final }, [pcm.buffer]);
    this.chunk = new Int16Array(this.chunkSamples);
    this.fill = 0;
    this.sumSquares = 0;
    this.peak = 0;
    this.counted = 0;
  }
}

registerProcessor("pcm16-writer", Pcm16Writer);
