/** Flux's state rules in the door's TurnInfo mapping (src/doors/flux/turns.ts), on hand-made core events. */
import { describe, expect, test } from "bun:test";
import { TurnTracker } from "../../src/doors/flux/turns.ts";
import { parseFluxQuery } from "../../src/doors/flux/query.ts";
import type { FinalEvent } from "../../src/stream/types.ts";

function final(text: string, over: Partial<FinalEvent["payload"]> = {}): FinalEvent {
  const payload = { text, duration: 1, client_id: "c", ts: 0, start: 0, end: 1, seq: 0, language: "en", avg_logprob: -0.2, no_speech_prob: 0.01, final: true, ...over };
  return { payload, empty: text === "", endedBy: "turn" };
}
const interim = (text: string, end = 1) => ({ client_id: "c", seq: 0, text, stable_text: "", start: 0, end, ts: 0 });

describe("TurnTracker", () => {
  test("an eager transcript the final does not match gets a TurnResumed before the EndOfTurn; turn_index goes up after it", () => {
    const t = new TurnTracker("r");
    expect(t.speechStarted(0.1).map((m) => m.event)).toEqual(["StartOfTurn"]);
    expect(t.speechStarted(0.5)).toEqual([]); // still the same turn
    expect(t.interim(interim("And so my")).map((m) => m.event)).toEqual(["Update"]);
    expect(t.eager({ client_id: "c", seq: 0, text: "And so my", probability: 0.8 })).toMatchObject([{ event: "EagerEndOfTurn", transcript: "And so my", end_of_turn_confidence: 0.8 }]);
    const out = t.final(final("And so my fellow Americans.", { end_of_turn: { probability: 0.9, trigger: "model" } }), false);
    expect(out.map((m) => m.event)).toEqual(["TurnResumed", "EndOfTurn"]);
    expect(out[1]).toMatchObject({ transcript: "And so my fellow Americans.", trigger: "model", turn_index: 0, end_of_turn_confidence: 0.9 });
    expect(t.speechStarted(2)).toMatchObject([{ event: "StartOfTurn", turn_index: 1 }]);
  });

  test("a final equal to the eager transcript ends the turn without TurnResumed; an empty eager is not sent", () => {
    const t = new TurnTracker("r");
    t.speechStarted(0);
    expect(t.eager({ client_id: "c", seq: 0, text: "", probability: 0.6 })).toEqual([]);
    expect(t.resumed()).toEqual([]); // no TurnResumed without an EagerEndOfTurn
    t.eager({ client_id: "c", seq: 0, text: "How are you?", probability: 0.6 });
    expect(t.final(final("How are you?", { end_of_turn: { probability: 0.6, trigger: "timeout" } }), false).map((m) => [m.event, m.trigger])).toEqual([["EndOfTurn", "timeout"]]);
  });

  test("an eager verdict before any words of the turn arrived goes out with the first Update that has text, unless speech resumed first", () => {
    const t = new TurnTracker("r");
    t.speechStarted(0);
    expect(t.eager({ client_id: "c", seq: 0, text: "", probability: 0.9 })).toEqual([]);
    expect(t.interim(interim("And so"))).toMatchObject([{ event: "Update" }, { event: "EagerEndOfTurn", transcript: "And so", end_of_turn_confidence: 0.9 }]);
    expect(t.resumed()).toMatchObject([{ event: "TurnResumed" }]);
    const u = new TurnTracker("r");
    u.speechStarted(0);
    u.eager({ client_id: "c", seq: 0, text: "", probability: 0.9 });
    expect(u.resumed()).toEqual([]);
    expect(u.interim(interim("And so")).map((m) => m.event)).toEqual(["Update"]);
  });

  test("max_segment_duration parts are carried into one turn; ForceEndTurn's final is trigger manual", () => {
    const t = new TurnTracker("r");
    t.speechStarted(0);
    expect(t.final(final("first part", { final: false, end_of_turn: { probability: null, trigger: "max_duration" } }), false).map((m) => m.event)).toEqual(["Update"]);
    expect(t.interim(interim("second", 2))).toMatchObject([{ event: "Update", transcript: "first part second" }]);
    expect(t.final(final("second part", { seq: 1, start: 1, end: 2, end_of_turn: { probability: 0.3, trigger: "finalize" } }), true)).toMatchObject([{ event: "EndOfTurn", transcript: "first part second part", trigger: "manual", turn_index: 0 }]);
  });
});

describe("parseFluxQuery", () => {
  test("defaults, ranges and the encodings this server does not decode", () => {
    expect(parseFluxQuery(new URLSearchParams("model=flux-general-en"))).toMatchObject({ ok: true, params: { encoding: "linear16", sampleRate: 16000, eotThreshold: 0.7, eagerEotThreshold: null, eotTimeoutMs: 5000 } });
    expect(parseFluxQuery(new URLSearchParams("encoding=mulaw&keyterm=a&keyterm=b&tag=x"))).toMatchObject({ ok: true, params: { sampleRate: 8000, keyterms: ["a", "b"] } });
    expect(parseFluxQuery(new URLSearchParams("eot_threshold=1.0&eager_eot_threshold=0.3"))).toMatchObject({ ok: true });
    for (const q of ["eot_threshold=0.49", "eot_threshold=1.1", "eager_eot_threshold=0.2", "eot_timeout_ms=499", "eot_timeout_ms=60001", "eot_timeout_ms=1000.5", "sample_rate=x", "encoding=opus", "eot_threshold=0.6&eager_eot_threshold=0.7"]) {
      const r = parseFluxQuery(new URLSearchParams(q));
      expect(r.ok).toBe(false);
      expect(r.ok ? "" : r.message).toContain(q.split("&").at(-1)!.split("=")[0]!);
    }
  });
});
