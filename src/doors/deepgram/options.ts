import type { StreamOptions } from "../../stream/types.ts";
import type { DeepgramParams } from "./query.ts";

/**
 * Deepgram parameters → the stream core's per-stream options.
 *
 * `endpointing` is Deepgram's silence before `speech_final`; here the same
 * silence also ends the utterance Whisper decodes, and Whisper needs context:
 * at 0.5 s JFK's sentences already split and WER rises (0.051 at 0.8 s →
 * 0.090 at 0.5 s, docs/benchmarks.md "silence_duration"), and below that
 * Silero's 32 ms frames make every breath an utterance end. So requests under
 * ENDPOINTING_FLOOR_S (Deepgram's own default is 10 ms, LiveKit sends 25) get
 * the floor. Without `endpointing` the server's `silence_duration` applies.
 * `endpointing=false` keeps VAD segmentation (Whisper still needs utterances)
 * with a long window and never sets `speech_final`.
 */
export const ENDPOINTING_FLOOR_S = 0.5;
export const ENDPOINTING_OFF_S = 2;
const SILENCE_MAX_S = 10;

/** Per-stream silence window in seconds; null = the server's silence_duration. */
export function silenceFor(endpointing: DeepgramParams["endpointing"]): number | null {
  if (endpointing === null) return null;
  if (endpointing === false) return ENDPOINTING_OFF_S;
  return Math.min(SILENCE_MAX_S, Math.max(ENDPOINTING_FLOOR_S, endpointing / 1000));
}

export function streamOptionsFor(p: DeepgramParams): Partial<StreamOptions> {
  const o: Partial<StreamOptions> = {
    interim_results: p.interimResults,
    // Results carry words on every message.
    word_timestamps: true,
    // Always on inside: UtteranceEnd needs speech onsets; SpeechStarted goes out only with vad_events=true.
    vad_events: true,
    segmentation: "vad",
  };
  if (p.language !== null) o.language = p.language;
  const terms = keytermsOf(p.keyterms, p.keywords);
  if (terms.length > 0) o.keyterms = terms;
  const silence = silenceFor(p.endpointing);
  if (silence !== null) o.silence_duration = silence;
  return o;
}

/** `keyterm` as given; legacy `keywords` without their `:intensifier` (Whisper has no boost, only context). */
export function keytermsOf(keyterm: readonly string[], keywords: readonly string[] = []): string[] {
  const out = [...keyterm, ...keywords.map((k) => k.replace(/:-?[0-9.]+$/, ""))].map((t) => t.trim()).filter(Boolean);
  return [...new Set(out)];
}
