import { describe, expect, test } from "bun:test";
import { initialTurnState, policyError, step, type TurnInput, type TurnPolicy, type TurnState } from "../../src/turns/decide.ts";

const policy: TurnPolicy = { eotThreshold: 0.7, eagerThreshold: null };
const eager: TurnPolicy = { eotThreshold: 0.7, eagerThreshold: 0.4 };

/** Feeds inputs in order; returns the final state and every action's kind (with details where they matter). */
function feed(inputs: TurnInput[], p: TurnPolicy, silence: "timeout" | "silence" = "timeout") {
  let s: TurnState = initialTurnState;
  const actions: unknown[] = [];
  for (const i of inputs) {
    const r = step(s, i, p, silence);
    s = r.state;
    actions.push(...r.actions);
  }
  return { state: s, actions };
}

describe("end-of-turn decisions", () => {
  test("a pause asks the model; a probability at the threshold ends the turn, triggered by the model", () => {
    const { actions, state } = feed(
      [{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.7 }, { kind: "closed", by: "model" }],
      policy,
    );
    expect(actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "end", endOfTurn: { probability: 0.7, trigger: "model" } },
      { kind: "final", endOfTurn: { probability: 0.7, trigger: "model" } },
    ]);
    expect(state).toEqual(initialTurnState);
  });

  test("below the threshold the turn stays open; the silence fallback then ends it as a timeout", () => {
    const { actions } = feed([{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.69 }, { kind: "closed", by: "silence" }], policy);
    expect(actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "keep_open", probability: 0.69 },
      { kind: "final", endOfTurn: { probability: 0.69, trigger: "timeout" } },
    ]);
  });

  test("silence-only streams report their silence closes as silence, unscored", () => {
    expect(feed([{ kind: "closed", by: "silence" }], policy, "silence").actions).toEqual([{ kind: "final", endOfTurn: { probability: null, trigger: "silence" } }]);
  });

  test("an answer for a pause the speaker talked through changes nothing", () => {
    const { actions } = feed([{ kind: "pause" }, { kind: "resume" }, { kind: "score", pause: 1, probability: 0.99 }], policy);
    expect(actions).toEqual([{ kind: "score", pause: 1 }]);
  });

  test("an answer for an earlier pause is ignored; the current pause's answer counts", () => {
    const { actions } = feed(
      [{ kind: "pause" }, { kind: "resume" }, { kind: "pause" }, { kind: "score", pause: 1, probability: 0.95 }, { kind: "score", pause: 2, probability: 0.1 }],
      policy,
    );
    expect(actions).toEqual([{ kind: "score", pause: 1 }, { kind: "score", pause: 2 }, { kind: "keep_open", probability: 0.1 }]);
  });

  test("an answer after the turn was closed (finalize) is ignored, and finalize is the trigger", () => {
    const { actions } = feed([{ kind: "pause" }, { kind: "closed", by: "finalize" }, { kind: "score", pause: 1, probability: 0.9 }], policy);
    expect(actions).toEqual([{ kind: "score", pause: 1 }, { kind: "final", endOfTurn: { probability: null, trigger: "finalize" } }]);
  });

  test("repeated pause signals in one silence keep the pause number", () => {
    const { actions } = feed([{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.3 }, { kind: "pause" }, { kind: "score", pause: 1, probability: 0.8 }], policy);
    expect(actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "keep_open", probability: 0.3 },
      { kind: "score", pause: 1 },
      { kind: "end", endOfTurn: { probability: 0.8, trigger: "model" } },
    ]);
  });

  test("eager: announced once between the thresholds, taken back when speech resumes", () => {
    const { actions } = feed(
      [
        { kind: "pause" },
        { kind: "score", pause: 1, probability: 0.5 },
        { kind: "pause" },
        { kind: "score", pause: 1, probability: 0.6 },
        { kind: "resume" },
        { kind: "resume" },
        { kind: "pause" },
        { kind: "score", pause: 2, probability: 0.9 },
      ],
      eager,
    );
    expect(actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "eager", probability: 0.5 },
      { kind: "keep_open", probability: 0.5 },
      { kind: "score", pause: 1 },
      { kind: "keep_open", probability: 0.6 },
      { kind: "resumed" },
      { kind: "score", pause: 2 },
      { kind: "eager", probability: 0.9 },
      { kind: "end", endOfTurn: { probability: 0.9, trigger: "model" } },
    ]);
  });

  test("no eager below the eager threshold, and none when it is off", () => {
    expect(feed([{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.39 }, { kind: "resume" }], eager).actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "keep_open", probability: 0.39 },
    ]);
    expect(feed([{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.69 }], policy).actions).toEqual([
      { kind: "score", pause: 1 },
      { kind: "keep_open", probability: 0.69 },
    ]);
  });

  test("a cut at max_segment_duration is a part: the turn, its pause and its probability go on", () => {
    const { actions } = feed(
      [{ kind: "pause" }, { kind: "score", pause: 1, probability: 0.2 }, { kind: "closed", by: "max_duration" }, { kind: "closed", by: "silence" }],
      policy,
    );
    expect(actions.slice(2)).toEqual([{ kind: "part" }, { kind: "final", endOfTurn: { probability: 0.2, trigger: "timeout" } }]);
  });

  test("policies are checked", () => {
    expect(policyError({ eotThreshold: 0.7, eagerThreshold: null })).toBeNull();
    expect(policyError({ eotThreshold: 0.7, eagerThreshold: 0.5 })).toBeNull();
    expect(policyError({ eotThreshold: 0, eagerThreshold: null })).toMatch(/eot_threshold/);
    expect(policyError({ eotThreshold: 1.5, eagerThreshold: null })).toMatch(/eot_threshold/);
    expect(policyError({ eotThreshold: Number.NaN, eagerThreshold: null })).toMatch(/eot_threshold/);
    expect(policyError({ eotThreshold: 0.7, eagerThreshold: 0.8 })).toMatch(/must not be above/);
    expect(policyError({ eotThreshold: 0.7, eagerThreshold: -1 })).toMatch(/eager_eot_threshold/);
  });
});
