import { Resampler } from "../../../public/resampler.js";
import { decodeG711 } from "../../audio/g711.ts";
import type { Encoding } from "./query.ts";

/**
 * Deepgram's raw audio encodings → the stream core's 16 kHz mono floats.
 * linear16 is little-endian int16; mulaw and alaw are G.711 (one byte per
 * sample, telephony). Any other rate goes through the project's one resampler
 * (public/resampler.js), whose state carries across frames, so a stream cut
 * into frames of any size converts exactly like the whole stream at once.
 */

export const CORE_RATE = 16000;

export type DecodeResult = { ok: true; samples: Float32Array } | { ok: false; code: "odd_byte_length" | "payload_too_large"; message: string };

export class AudioDecoder {
  private readonly resampler: Resampler | null;
  /** Samples received at the input rate (the audio clock the client sees). */
  inputSamples = 0;

  constructor(
    readonly encoding: Encoding,
    readonly sampleRate: number,
    /** Largest frame accepted, in bytes. */
    private readonly maxFrameBytes: number,
  ) {
    this.resampler = sampleRate === CORE_RATE ? null : new Resampler(sampleRate, CORE_RATE);
  }

  get bytesPerSample(): number {
    return this.encoding === "linear16" ? 2 : 1;
  }

  /** One binary frame → 16 kHz samples (possibly none yet: the resampler holds a few ms back). */
  decode(bytes: Uint8Array): DecodeResult {
    if (bytes.byteLength > this.maxFrameBytes) {
      return { ok: false, code: "payload_too_large", message: `audio frame of ${bytes.byteLength} bytes is larger than this server's limit of ${this.maxFrameBytes} bytes; send smaller frames (20-250 ms of audio each)` };
    }
    if (this.encoding === "linear16" && bytes.byteLength % 2 !== 0) {
      return { ok: false, code: "odd_byte_length", message: `linear16 audio needs an even number of bytes per frame (got ${bytes.byteLength}); the frame was dropped` };
    }
    const input = this.toFloat(bytes);
    this.inputSamples += input.length;
    return { ok: true, samples: this.resampler ? this.resampler.process(input) : input };
  }

  /** End of the stream: what the resampler still holds. */
  flush(): Float32Array {
    return this.resampler ? this.resampler.flush() : new Float32Array(0);
  }

  private toFloat(bytes: Uint8Array): Float32Array {
    if (this.encoding === "linear16") {
      const n = bytes.byteLength / 2;
      const out = new Float32Array(n);
      // DataView: a frame may start at an odd offset inside its buffer.
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
      return out;
    }
    return decodeG711(bytes, this.encoding);
  }
}
