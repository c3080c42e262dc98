/** The capacity model's arithmetic, on figures of the size the 2-core bench measures. */
import { describe, expect, test } from "bun:test";
import { admissibleRate, erlangC, fitCost, maxThroughput, predictP95, streamRate } from "../../src/capacity/model.ts";

const shape = { workers: 1, maxBatch: 8 };

describe("capacity model", () => {
  test("fitCost recovers a + b·k from calls of several batch sizes, and the spread around it", () => {
    const samples = [1, 2, 4, 8, 1, 3].map((k) => ({ batch: k, seconds: 0.1 + 0.4 * k }));
    const c = fitCost(samples)!;
    expect(c.a).toBeCloseTo(0.1, 6);
    expect(c.b).toBeCloseTo(0.4, 6);
    expect(c.scv).toBeCloseTo(0, 9);
    // ±20 % around the line: squared relative deviation 0.04 each.
    const noisy = [1, 1, 4, 4].map((k, i) => ({ batch: k, seconds: (0.1 + 0.4 * k) * (i % 2 ? 1.2 : 0.8) }));
    expect(fitCost(noisy)!.scv).toBeCloseTo((4 * 0.04) / 3, 6);
  });

  test("with one batch size only, all cost goes on the utterance (no batching gain assumed)", () => {
    const c = fitCost([{ batch: 1, seconds: 0.5 }, { batch: 1, seconds: 0.3 }])!;
    expect(c.a).toBe(0);
    expect(c.b).toBeCloseTo(0.4, 9);
    expect(c.scv).toBeCloseTo(0.125, 9); // (±0.1 / 0.4)² twice, over n − 1
    expect(fitCost([])).toBeNull();
  });

  test("Erlang C matches hand-computed values", () => {
    expect(erlangC(1, 0.5)).toBeCloseTo(0.5, 9); // M/M/1: P(wait) = ρ
    expect(erlangC(2, 1.5)).toBeCloseTo(0.642857142857, 9); // (1.125·4) / (2.5 + 4.5)
    expect(erlangC(2, 0)).toBe(0);
    expect(erlangC(2, 2)).toBe(1);
  });

  test("predicted p95 is the call plus the queue's tail: M/D/1 by hand, rising with load, unbounded past the engine", () => {
    const steady = { a: 0, b: 0.5, scv: 0 };
    const one = { workers: 1, maxBatch: 1 };
    expect(predictP95(steady, one, 0)).toBeCloseTo(0.5, 9);
    // λ = 1/s, S = 0.5 s: A = 0.5, C = 0.5, g = 0.5, wait95 = 0.5·0.5/0.5·ln(0.5/0.05).
    expect(predictP95(steady, one, 1)).toBeCloseTo(0.5 + 0.5 * Math.log(10), 9);
    expect(predictP95(steady, one, 2)).toBe(Infinity);
    const c = { a: 0.1, b: 0.4, scv: 0.05 };
    let last = 0;
    for (let l = 0; l < 2.4; l += 0.05) {
      const p = predictP95(c, shape, l);
      expect(p).toBeGreaterThanOrEqual(last);
      last = p;
    }
    expect(predictP95(c, shape, 1 / 0.4)).toBe(Infinity); // λ·b = W: no batch size keeps up
    expect(maxThroughput(c, shape)).toBeCloseTo(8 / 3.3, 9);
  });

  test("the spread of call times raises the tail; batching keeps a GPU-like engine (a ≫ b) finite past single calls", () => {
    const shape2 = { workers: 2, maxBatch: 8 };
    expect(predictP95({ a: 0, b: 0.6, scv: 0.2 }, shape2, 2)).toBeGreaterThan(predictP95({ a: 0, b: 0.6, scv: 0 }, shape2, 2) + 0.3);
    const gpu = { a: 0.5, b: 0.02, scv: 0 };
    // Single calls saturate at 2 / 0.52 ≈ 3.8/s; batches of 8 (0.66 s) serve 24/s.
    expect(predictP95(gpu, { workers: 2, maxBatch: 1 }, 10)).toBe(Infinity);
    expect(predictP95(gpu, shape2, 10)).toBeLessThan(2);
  });

  test("admissible rate keeps both the latency promise and the utilization headroom", () => {
    const c = { a: 0.1, b: 0.4 };
    const byUtil = admissibleRate(c, shape, 10, 0.5);
    expect(byUtil).toBeCloseTo(0.5 * maxThroughput(c, shape), 9);
    const byLatency = admissibleRate(c, shape, 1.2, 1);
    expect(predictP95(c, shape, byLatency)).toBeLessThanOrEqual(1.2);
    expect(predictP95(c, shape, byLatency + 0.01)).toBeGreaterThan(1.2);
    expect(admissibleRate(c, shape, 0.4, 1)).toBe(0); // one call alone is slower than the promise
  });

  test("a young stream counts as the prior; a silent one holds less and less, and nothing once it has a full window of its own", () => {
    expect(streamRate(0, 0, 0.25, 10, 60)).toBeCloseTo(0.25, 9);
    expect(streamRate(0, 30, 0.25, 10, 60)).toBeCloseTo((0.25 * 5) / 35, 9);
    expect(streamRate(0, 60, 0.25, 10, 60)).toBe(0);
    expect(streamRate(0, 3600, 0.25, 10, 60)).toBe(0);
    // A talker: 30 finals in the last minute is 0.5/s, whatever the prior.
    expect(streamRate(30, 120, 0.25, 10, 60)).toBeCloseTo(0.5, 9);
  });
});
