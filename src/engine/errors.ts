/** The engine's error type and the checks made before audio reaches a worker. */
import { MAX_SAMPLES } from "../../ffi/sttwhisper.ts";
import type { WireError } from "./protocol.ts";

/** An engine error: `code` is a shim status name ("invalid_audio", "no_cuda", ...) or "queue_full". */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export function fromWire(e: WireError): EngineError {
  return new EngineError(e.code, e.message);
}

/** Rejects what the shim would reject, before it is copied to a worker. */
export function validateAudio(audio: unknown): void {
  if (!(audio instanceof Float32Array)) throw new EngineError("invalid_audio", "audio must be a Float32Array of 16 kHz mono samples");
  if (audio.length === 0) throw new EngineError("invalid_audio", "audio is empty (0 samples)");
  if (audio.length > MAX_SAMPLES) throw new EngineError("invalid_audio", `audio too long: at most ${MAX_SAMPLES} samples (10 min at 16 kHz)`);
  for (let i = 0; i < audio.length; i++) {
    if (!Number.isFinite(audio[i]!)) throw new EngineError("invalid_audio", `sample ${i} is NaN or infinite (audio must be finite floats in [-1, 1])`);
  }
}
