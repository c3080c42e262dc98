import { Resampler } from "../../../public/resampler.js";
import { decodeG711 } from "../../audio/g711.ts";
import { decodePcm16 } from "../../audio/pcm.ts";

/**
 * `input_audio_buffer.append` audio → 16 kHz float samples for the core.
 * OpenAI sends base64 of audio/pcm (16-bit little-endian mono, 24 kHz),
 * audio/pcmu or audio/pcma (G.711, 8 kHz). `rate: 16000` is this server's
 * extension (what LiteLLM passes through for other vendors). The resampler
 * keeps its history across appends, so chunk boundaries are seamless.
 */

export type InputFormat = { type: "audio/pcm"; rate: 24000 | 16000 } | { type: "audio/pcmu" } | { type: "audio/pcma" };

export const TARGET_RATE = 16000;

export type AudioResult = { ok: true; samples: Float32Array } | { ok: false; code: "invalid_audio" | "odd_byte_length" | "chunk_too_long"; message: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function formatRate(f: InputFormat): number {
  return f.type === "audio/pcm" ? f.rate : 8000;
}

export function sameFormat(a: InputFormat, b: InputFormat): boolean {
  return a.type === b.type && formatRate(a) === formatRate(b);
}

export class InputAudio {
  private resampler: Resampler | null;

  /** `maxSeconds`: the longest chunk one append may carry (config limits.max_chunk_seconds). */
  constructor(
    private fmt: InputFormat,
    private readonly maxSeconds: number,
  ) {
    this.resampler = makeResampler(fmt);
  }

  get format(): InputFormat {
    return this.fmt;
  }

  /** A new format starts a new resampler; the old one's few held samples are dropped. */
  setFormat(f: InputFormat): void {
    if (sameFormat(f, this.fmt)) return;
    this.fmt = f;
    this.resampler = makeResampler(f);
  }

  decode(base64: string): AudioResult {
    if (base64.length % 4 !== 0 || !BASE64.test(base64)) {
      return { ok: false, code: "invalid_audio", message: "audio must be base64-encoded bytes (standard alphabet, padded)" };
    }
    const bytes = Buffer.from(base64, "base64");
    const rate = formatRate(this.fmt);
    const perSample = this.fmt.type === "audio/pcm" ? 2 : 1;
    if (bytes.byteLength / perSample / rate > this.maxSeconds) {
      return { ok: false, code: "chunk_too_long", message: `one append may carry at most ${this.maxSeconds} s of audio` };
    }
    let samples: Float32Array;
    if (this.fmt.type === "audio/pcm") {
      if (bytes.byteLength % 2 !== 0) {
        return { ok: false, code: "odd_byte_length", message: `audio/pcm is 16-bit: an even byte count is needed (got ${bytes.byteLength})` };
      }
      const pcm = decodePcm16(bytes, Number.MAX_SAFE_INTEGER);
      samples = pcm.ok ? pcm.samples : new Float32Array(0);
    } else {
      samples = decodeG711(bytes, this.fmt.type === "audio/pcmu" ? "mulaw" : "alaw");
    }
    return { ok: true, samples: this.resampler ? this.resampler.process(samples) : samples };
  }

  /** What the resampler still holds (a few ms): pushed before a manual commit closes the item. */
  flush(): Float32Array {
    return this.resampler ? this.resampler.flush() : new Float32Array(0);
  }

  /** Forgets held samples (input_audio_buffer.clear). */
  reset(): void {
    this.resampler?.reset();
  }
}

function makeResampler(f: InputFormat): Resampler | null {
  const rate = formatRate(f);
  return rate === TARGET_RATE ? null : new Resampler(rate, TARGET_RATE);
}
