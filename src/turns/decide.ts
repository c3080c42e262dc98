/**
 * End-of-turn decisions for one stream, as a pure state machine: the stream
 * core feeds it what the segmenter signalled and what the model answered, and
 * does what it returns. No timers and no I/O here; the fallback timeout is the
 * segmenter's own silence close (silenceDuration = eot_timeout in turn mode).
 */

export interface TurnPolicy {
  /** P(complete) at or above which the turn ends at the pause. */
  eotThreshold: number;
  /** P(complete) at or above which the turn is announced as probably over (turn_eager); null = off. */
  eagerThreshold: number | null;
}

/** Why a turn's final came: the model, the silence fallback, the client, or the length limit. */
export type TurnTrigger = "model" | "timeout" | "silence" | "finalize" | "max_duration";

export interface EndOfTurn {
  /** The model's last P(complete) for this turn; null when it was never scored. */
  probability: number | null;
  trigger: TurnTrigger;
}

/** Per-stream state; plain data, replaced (never mutated) by step(). */
export interface TurnState {
  /** Counts silence runs that reached a pause; a model answer is for the pause it was asked at. */
  pause: number;
  /** Still in that pause (speech has not come back). */
  paused: boolean;
  /** turn_eager was sent and not yet taken back by turn_resumed. */
  eager: boolean;
  /** Last P(complete) of this turn. */
  probability: number | null;
}

export const initialTurnState: TurnState = { pause: 0, paused: false, eager: false, probability: null };

export type TurnInput =
  /** The segmenter signalled a pause (signal.kind "pause"). */
  | { kind: "pause" }
  /** The model answered for pause number `pause`. */
  | { kind: "score"; pause: number; probability: number }
  /** The segmenter signalled that speech came back (signal.kind "resume"). */
  | { kind: "resume" }
  /** An utterance of the turn was closed by the segmenter or the client. */
  | { kind: "closed"; by: "silence" | "finalize" | "max_duration" | "model" };

export type TurnAction =
  /** Ask the model about the turn's audio so far; hand `pause` back with its answer. */
  | { kind: "score"; pause: number }
  /** Announce that the turn is probably over (turn_eager), with the open turn's text. */
  | { kind: "eager"; probability: number }
  /** End the turn now: call Segmenter.endTurn(); its final carries end_of_turn. */
  | { kind: "end"; endOfTurn: EndOfTurn }
  /** The model says not yet: keep the utterance open through the pause. */
  | { kind: "keep_open"; probability: number }
  /** Speech came back after turn_eager: send turn_resumed. */
  | { kind: "resumed" }
  /** The closed utterance ended the turn: its final carries this end_of_turn. */
  | { kind: "final"; endOfTurn: EndOfTurn }
  /** A cut at max_segment_duration: a final for the part, the turn goes on. */
  | { kind: "part" };

export interface TurnStep {
  state: TurnState;
  actions: TurnAction[];
}

/**
 * `silence` is the trigger of a silence close: "timeout" when the model runs
 * (the close is the eot_timeout fallback), "silence" when the stream uses
 * silence-only detection.
 */
export function step(s: TurnState, input: TurnInput, policy: TurnPolicy, silence: "timeout" | "silence" = "timeout"): TurnStep {
  switch (input.kind) {
    case "pause": {
      // A repeated signal inside the same silence run keeps its pause number.
      const pause = s.paused ? s.pause : s.pause + 1;
      return { state: { ...s, pause, paused: true }, actions: [{ kind: "score", pause }] };
    }
    case "resume": {
      const state = { ...s, paused: false, eager: false };
      return { state, actions: s.eager ? [{ kind: "resumed" }] : [] };
    }
    case "score": {
      // An answer for a pause the speaker already talked through (or a turn
      // already closed) says nothing about the turn now.
      if (!s.paused || input.pause !== s.pause) return { state: s, actions: [] };
      const p = input.probability;
      const state = { ...s, probability: p };
      const actions: TurnAction[] = [];
      if (policy.eagerThreshold !== null && p >= policy.eagerThreshold && !s.eager) {
        state.eager = true;
        actions.push({ kind: "eager", probability: p });
      }
      actions.push(p >= policy.eotThreshold ? { kind: "end", endOfTurn: { probability: p, trigger: "model" } } : { kind: "keep_open", probability: p });
      return { state, actions };
    }
    case "closed": {
      if (input.by === "max_duration") return { state: { ...s, paused: false }, actions: [{ kind: "part" }] };
      const trigger: TurnTrigger = input.by === "silence" ? silence : input.by;
      return { state: initialTurnState, actions: [{ kind: "final", endOfTurn: { probability: s.probability, trigger } }] };
    }
  }
}

/** Checks a policy from a handshake or config; returns what is wrong, or null. */
export function policyError(p: TurnPolicy): string | null {
  const ok = (x: number) => Number.isFinite(x) && x > 0 && x <= 1;
  if (!ok(p.eotThreshold)) return `eot_threshold must be a number in (0, 1], got ${p.eotThreshold}`;
  if (p.eagerThreshold !== null) {
    if (!ok(p.eagerThreshold)) return `eager_eot_threshold must be a number in (0, 1] or null, got ${p.eagerThreshold}`;
    if (p.eagerThreshold > p.eotThreshold) return `eager_eot_threshold (${p.eagerThreshold}) must not be above eot_threshold (${p.eotThreshold})`;
  }
  return null;
}
