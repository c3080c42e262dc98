import type { TurnDetector } from "../turns/detector.ts";
import { initialTurnState, step, type EndOfTurn, type TurnPolicy, type TurnState } from "../turns/decide.ts";
import type { SegmenterSignal } from "./segmenter.ts";

/** How an utterance of a turn was closed, as the decisions know it. */
export type ClosedBy = "silence" | "finalize" | "max_duration" | "model";

export interface TurnTakingHooks {
  /** The model leans to "complete" (eager_eot_threshold): the agent may start its reply. */
  onEager(probability: number): void;
  /** Speech came back after onEager: the agent should cancel. */
  onResumed(): void;
  /** The model says the turn is over: close the open utterance now. */
  endTurn(): void;
}

/**
 * One stream's end-of-turn decisions (src/turns/decide.ts) wired to its
 * segmenter's pause signals and the shared Smart Turn detector. The model
 * runs off the main thread; its answer comes back between VAD steps and is
 * ignored if the speaker has talked on since (decide.ts checks the pause).
 */
export class TurnTaking {
  private state: TurnState = initialTurnState;

  constructor(
    private readonly clientId: string,
    private readonly detector: () => TurnDetector,
    private policy: TurnPolicy,
    private readonly hooks: TurnTakingHooks,
    private onScoreError: (err: unknown) => void = () => {},
  ) {}

  setPolicy(p: TurnPolicy): void {
    this.policy = p;
  }

  /** A segmenter signal after a frame; `turnAudio` copies the turn so far (asked only at a pause). */
  signal(sig: SegmenterSignal, turnAudio: () => Float32Array): void {
    const { state, actions } = step(this.state, { kind: sig.kind === "pause" ? "pause" : "resume" }, this.policy);
    this.state = state;
    for (const a of actions) {
      if (a.kind === "resumed") this.hooks.onResumed();
      if (a.kind !== "score") continue;
      const pause = a.pause;
      this.detector()
        .score(this.clientId, turnAudio())
        .then(
          (probability) => this.answer(pause, probability),
          // No answer keeps the turn open: the eot_timeout fallback still ends it.
          (err) => this.onScoreError(err),
        );
    }
  }

  /** An utterance was closed; returns the end_of_turn its final carries (null for a cut part). */
  closed(by: ClosedBy, silenceTrigger: "timeout" | "silence"): EndOfTurn | null {
    const { state, actions } = step(this.state, { kind: "closed", by }, this.policy, silenceTrigger);
    this.state = state;
    for (const a of actions) if (a.kind === "final") return a.endOfTurn;
    return null;
  }

  private answer(pause: number, probability: number): void {
    const { state, actions } = step(this.state, { kind: "score", pause, probability }, this.policy);
    this.state = state;
    for (const a of actions) {
      if (a.kind === "eager") this.hooks.onEager(a.probability);
      else if (a.kind === "end") this.hooks.endTurn();
    }
  }
}
