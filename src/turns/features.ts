/**
 * Smart Turn v3 input features: the last 8 s of the turn (zero-padded at the
 * front when shorter), normalised to zero mean and unit variance over the
 * whole 8 s window, then Whisper's 80-bin log-mel (n_fft 400, hop 160, the
 * trailing STFT frame dropped) → [80][800]. This is what Smart Turn was
 * trained on (transformers' WhisperFeatureExtractor with chunk_length 8 and
 * do_normalize); the log-mel itself is the shim's (native/src/mel.cpp), which
 * with no extra padding computes the same frames.
 *
 * Calls the native shim, so it blocks: run it in the turn worker.
 */
import { logMel } from "../../ffi/sttwhisper.ts";

export const TURN_SAMPLE_RATE = 16000;
export const TURN_WINDOW_SECONDS = 8;
export const TURN_WINDOW = TURN_SAMPLE_RATE * TURN_WINDOW_SECONDS;
export const TURN_MELS = 80;
export const TURN_FRAMES = TURN_WINDOW / 160;
/** Variance floor of transformers' zero_mean_unit_var_norm. */
const VAR_EPS = 1e-7;

/** The model's 8 s window of a turn: its last 8 s, zero-padded at the front. */
export function turnWindow(audio: Float32Array): Float32Array {
  if (audio.length >= TURN_WINDOW) return audio.slice(audio.length - TURN_WINDOW);
  const out = new Float32Array(TURN_WINDOW);
  out.set(audio, TURN_WINDOW - audio.length);
  return out;
}

/** Zero mean, unit variance (float32 results, statistics in float64). */
export function normalise(x: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]!;
  const mean = sum / x.length;
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += (x[i]! - mean) ** 2;
  const scale = 1 / Math.sqrt(sq / x.length + VAR_EPS);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i]! - mean) * scale;
  return out;
}

/** [80][800] log-mel of the turn's last 8 s, row-major, ready for the model. */
export function turnFeatures(audio: Float32Array): Float32Array {
  const { data, frames } = logMel(normalise(turnWindow(audio)), TURN_MELS, 0);
  if (frames !== TURN_FRAMES) throw new Error(`log-mel gave ${frames} frames for the 8 s window, expected ${TURN_FRAMES}`);
  return data;
}
