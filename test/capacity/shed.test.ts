/**
 * The interim path's predicate and the capacity controller's bookkeeping, on a
 * stand-in engine whose calls take a fixed, known time (so load is exact) and
 * a clock the test moves. The real-engine behaviour is in admission.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { Capacity } from "../../src/capacity/capacity.ts";
import type { EngineRequest, EngineResult, SpeechEngine } from "../../src/engine/types.ts";

/** Answers at once, reporting `engineMs` as the cost of a call of one utterance; `elapse` moves the test's clock during the call. */
class FixedCostEngine implements SpeechEngine {
  readonly info = { modelPath: "(test)", device: "cpu" as const, computeType: "none", multilingual: false, nMels: 80, workers: 1 };
  readonly seen: EngineRequest[] = [];
  private call = 0;
  constructor(
    private readonly engineMs: number,
    /** Called with each call's request: moves the Capacity's clock (latency is measured on it). */
    private readonly elapse: () => void = () => {},
  ) {}
  async transcribe(req: EngineRequest): Promise<EngineResult> {
    this.seen.push(req);
    this.elapse();
    // A distinct time per call, as real calls have, so each counts once.
    const ms = this.engineMs + (this.call++ % 7) * 1e-3;
    return { text: "x", tokens: [], avgLogprob: 0, noSpeechProb: 0, language: "en", languageProbability: 1, engineMs: ms, batchSize: 1 };
  }
  textOf(): string {
    return "";
  }
  async close(): Promise<void> {}
}

function setup(engineMs: number, active: Set<string>, maxLatency = 2, callMs = 0) {
  let t = 0;
  const cap = new Capacity({
    admission: true,
    maxLatency,
    maxStreams: 0,
    maxUtilization: 0.85,
    shape: { workers: 1, maxBatch: 8 },
    isActive: (id) => active.has(id),
    now: () => t,
  });
  const engine = new FixedCostEngine(engineMs, () => (t += callMs));
  return { cap, engine, wrapped: cap.wrap(engine), advance: (ms: number) => (t += ms) };
}

const audio = new Float32Array(16000);

/** Opens streams s0, s1, … until one is refused, moving the clock `stepMs` between them; how many were admitted. */
function admitUntilRefused(cap: Capacity, active: Set<string>, advance: (ms: number) => void, stepMs = 0): number {
  let admitted = 0;
  for (let i = 0; i < 20; i++) {
    if (cap.admit(`s${i}`, "sock") !== null) break;
    active.add(`s${i}`);
    admitted++;
    advance(stepMs);
  }
  return admitted;
}

describe("capacity controller", () => {
  test("admits streams up to what the measured cost allows, then refuses; shedInterims once the engine is saturated", async () => {
    const active = new Set<string>();
    const { cap, wrapped, advance } = setup(500, active);
    await wrapped.transcribe({ audio, streamKey: "__warmup" });
    // 0.5 s per utterance, steady, one worker; a new stream counts 0.25 finals/s.
    const admitted = admitUntilRefused(cap, active, advance);
    // With 3 open, a 4th fits: λ = 1/s, M/D/1 p95 0.5 + 0.5·ln 10 = 1.65 s; with
    // 4 open a 5th would make 2.18 s (λ = 1.25/s). The utilization cap
    // (0.85 × 2/s) alone would have let 6 in.
    expect(admitted).toBe(4);
    expect(cap.snapshot(true).capacityStreams).toBe(4);
    const refusal = cap.admit("late", "sock2")!;
    expect(refusal.notify).toBe(true);
    expect(refusal.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(cap.admit("late", "sock2")).toMatchObject({ notify: false });
    expect(cap.refusedTotal).toBe(2); // s6 and "late"; the quiet drop of late's next chunk is not another refusal
    expect(cap.shedInterims()).toBe(false);

    // Everyone talks at once: each admitted stream hands over 5 finals within 2 s.
    for (let k = 0; k < 5; k++) for (const id of active) await wrapped.transcribe({ audio, streamKey: id });
    advance(2000);
    // More finals offered than the engine can finish (2/s): interims go.
    expect(cap.snapshot(true).loadRatio).toBeGreaterThanOrEqual(1);
    expect(cap.shedInterims()).toBe(true);
    cap.interimShed();
    expect(cap.interimsShed).toBe(1);
  });

  test("interim requests pass through uncounted; a stream that left frees its place", async () => {
    const active = new Set<string>(["only"]);
    const { cap, engine, wrapped, advance } = setup(500, active);
    expect(cap.admit("only", "sock")).toBeNull();
    for (let k = 0; k < 30; k++) await wrapped.transcribe({ audio, streamKey: "only", priority: "interim" });
    expect(engine.seen.length).toBe(30);
    expect(cap.snapshot(true).offeredRate).toBeCloseTo(0.25, 6);
    expect(cap.snapshot(true).cost).toBeNull(); // interims never teach the finals' cost
    advance(1000);
    active.delete("only");
    expect(cap.snapshot(true).admittedStreams).toBe(0);
    expect(cap.ready().ready).toBe(true);
  });

  test("streams that arrive over a few seconds count as typical talkers until their first utterance could be in", async () => {
    const active = new Set<string>();
    const { cap, wrapped, advance } = setup(500, active);
    await wrapped.transcribe({ audio, streamKey: "__warmup" });
    const admitted = admitUntilRefused(cap, active, advance, 500);
    // The same 4 as when they all arrive at once: a stream 1.5 s old with no
    // final yet is not yet a quiet one (counted so, more would fit).
    expect(admitted).toBe(4);
  });

  test("measured latency over the promise refuses; once the node is idle that history is dropped and it admits again", async () => {
    const active = new Set<string>(["a"]);
    // Calls take 5 ms (of the test's clock) against a 1 ms promise.
    const { cap, wrapped } = setup(0.01, active, 0.001, 5);
    expect(cap.admit("a", "sock")).toBeNull();
    for (let k = 0; k < 8; k++) await wrapped.transcribe({ audio, streamKey: "a" });
    expect(cap.snapshot(true).observedLatency!).toBeGreaterThan(0.001);
    expect(cap.admit("b", "sock2")).toMatchObject({ notify: true });
    expect(cap.ready()).toMatchObject({ ready: false });
    expect(cap.ready().reason).toContain("measured final latency");
    active.delete("a");
    const snap = cap.snapshot(true);
    expect(snap.admittedStreams).toBe(0);
    expect(snap.observedLatency).toBeNull();
    expect(cap.ready().ready).toBe(true);
  });
});
