/**
 * The `turn` settings (config defaults, and per stream once the doors pass
 * them): checks that span fields, and what the segmenter and the decisions
 * need from them.
 */
import type { Config } from "../config/schema.ts";
import { policyError, type TurnPolicy } from "./decide.ts";

export type TurnSettings = Config["turn"];

/** What is wrong with a settings object beyond each field's own range; null when it is fine. */
export function turnSettingsError(t: TurnSettings): string | null {
  const p = policyError(policyOf(t));
  if (p) return p;
  if (!(t.min_pause < t.eot_timeout)) return `min_pause (${t.min_pause} s) must be shorter than eot_timeout (${t.eot_timeout} s)`;
  return null;
}

export function policyOf(t: TurnSettings): TurnPolicy {
  return { eotThreshold: t.eot_threshold, eagerThreshold: t.eager_eot_threshold };
}

/**
 * Segmenter options (constructor or tune()) of a stream: in model mode a
 * pause signal at min_pause and the utterance held open through pauses until
 * eot_timeout of silence; in silence mode its silence_duration and no pause
 * signal (pauseDuration 0), so a stream switched back segments as before.
 */
export function segmenterTurnOptions(t: TurnSettings, silenceDuration: number): { silenceDuration: number; pauseDuration: number } {
  return t.detection === "model" ? { silenceDuration: t.eot_timeout, pauseDuration: t.min_pause } : { silenceDuration, pauseDuration: 0 };
}
