/** Types for public/resampler.js (plain JS so the browser page needs no build step). */
export declare class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Kernel half-width in input samples (the converter's latency). */
  readonly half: number;
  constructor(inRate: number, outRate?: number, opts?: { zeros?: number; rolloff?: number; beta?: number });
  /** Resamples the next chunk of the stream; returns the output ready so far. */
  process(input: Float32Array): Float32Array;
  /** End of stream: the remaining output. The resampler then starts a fresh stream. */
  flush(): Float32Array;
  reset(): void;
}
/** Float samples in [-1, 1] → PCM16 (clipped). */
export declare function floatToPcm16(samples: Float32Array): Int16Array;
