/**
 * Offline stream simulation for bench:turns: per-frame Silero probabilities
 * (scored beforehand) go through the segmenter at stream time, as a live
 * session would feed them; in model mode each pause is scored by the real
 * detector, and its answer takes effect at pause time + the measured call
 * time, by which point more frames have arrived (speech may have resumed).
 */
import { Segmenter, type SegmenterOptions } from "../../src/session/segmenter.ts";
import { initialTurnState, step, type TurnPolicy, type TurnState } from "../../src/turns/decide.ts";
import { VAD_FRAME } from "../../src/vad/silero.ts";

export const SR = 16000;

/** Segmentation settings of the config defaults (src/config/schema.ts). */
const BASE: Omit<SegmenterOptions, "silenceDuration"> = {
  sampleRate: SR,
  frameSize: VAD_FRAME,
  threshold: 0.5,
  minSpeechDuration: 0.25,
  speechPad: 0.2,
  maxSegmentDuration: 25,
};

export type SimMode =
  | { kind: "silence"; silence: number }
  | { kind: "model"; minPause: number; repeat?: number; eotTimeout: number; policy: TurnPolicy };

/** A turn end: stream time (samples) at which it was decided, and by what. */
export interface Decision {
  at: number;
  trigger: "silence" | "model" | "timeout" | "flush";
}

export interface Scored {
  probability: number;
  /** Wall time of the detector call. */
  ms: number;
}

/** Scores a turn's audio; the benchmark caches answers by audio span, so thresholds share model calls. */
export type Scorer = (audio: Float32Array, from: number, to: number) => Promise<Scored>;

export async function simulate(audio: Float32Array, probs: Float32Array, mode: SimMode, score: Scorer): Promise<Decision[]> {
  const out: Decision[] = [];
  if (mode.kind === "silence") {
    const seg = new Segmenter({ ...BASE, silenceDuration: mode.silence });
    for (const p of probs) if (seg.push(p).length > 0) out.push({ at: seg.position, trigger: "silence" });
    if (seg.flush().length > 0) out.push({ at: seg.position, trigger: "flush" });
    return out;
  }
  const seg = new Segmenter({ ...BASE, silenceDuration: mode.eotTimeout, pauseDuration: mode.minPause, pauseRepeat: mode.repeat });
  let state: TurnState = initialTurnState;
  let pending: { readyAt: number; pause: number; probability: number } | null = null;
  const apply = (): void => {
    const r = pending!;
    pending = null;
    const next = step(state, { kind: "score", pause: r.pause, probability: r.probability }, mode.policy);
    state = next.state;
    if (next.actions.some((a) => a.kind === "end") && seg.endTurn().length > 0) {
      state = step(state, { kind: "closed", by: "model" }, mode.policy).state;
      out.push({ at: r.readyAt, trigger: "model" });
    }
  };
  for (const p of probs) {
    // The answer arrives while this frame's audio is still on its way.
    if (pending && pending.readyAt <= seg.position + VAD_FRAME) apply();
    const closed = seg.push(p);
    if (closed.length > 0) {
      state = step(state, { kind: "closed", by: "silence" }, mode.policy).state;
      pending = null;
      out.push({ at: seg.position, trigger: "timeout" });
    }
    const sig = seg.signal;
    if (sig?.kind === "resume") state = step(state, { kind: "resume" }, mode.policy).state;
    if (sig?.kind === "pause") {
      const next = step(state, { kind: "pause" }, mode.policy);
      state = next.state;
      for (const a of next.actions) {
        if (a.kind !== "score") continue;
        const from = seg.openStart;
        const r = await score(audio.subarray(from, sig.at), from, sig.at);
        pending = { readyAt: sig.at + Math.round((r.ms / 1000) * SR), pause: a.pause, probability: r.probability };
      }
    }
  }
  if (pending) apply();
  if (seg.flush().length > 0) out.push({ at: seg.position, trigger: "flush" });
  return out;
}
