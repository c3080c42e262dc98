/** The capacity model's arithmetic, on figures of the size the 2-core bench measures. */
import { describe, expect, test } from "bun:test";
import { admissibleRate, fitCost, maxThroughput, predictP95, streamRate } from "../../src/capacity/model.ts";

const shape = { workers: 1, maxBatch: 8 };

describe("capacity model", () => {
  test("fitCost recovers a + b·k from calls of several batch sizes", () => {
    const samples = [1, 2, 4, 8, 1, 3].map((k) => ({ batch: k, seconds: 0.1 + 0.4 * k }));
    const c = fitCost(samples)!;
    expect(c.a).toBeCloseTo(0.1, 6);
    expect(c.b).toBeCloseTo(0.4, 6);
  });

  test("with one batch size only, all cost goes on the utterance (no batching gain assumed)", () => {
    const c = fitCost([{ batch: 1, seconds: 0.5 }, { batch: 1, seconds: 0.3 }])!;
    expect(c).toEqual({ a: 0, b: 0.4 });
    expect(fitCost([])).toBeNull();
  });

  test("predicted p95 rises with load, meets at saturation of single calls, and is unbounded past the engine", () => {
    const c = { a: 0.1, b: 0.4 };
    const p = [0, 0.5, 1, 1.5, 1.9, 2.2].map((l) => predictP95(c, shape, l));
    for (let i = 1; i < p.length; i++) expect(p[i]!).toBeGreaterThanOrEqual(p[i - 1]!);
    expect(p[0]).toBeCloseTo(0.5, 9);
    // ρ1 = λ·S(1) = 1 at λ = 2: both branches give 2·S(1).
    expect(predictP95(c, shape, 2 - 1e-9)).toBeCloseTo(1.0, 6);
    expect(predictP95(c, shape, 2 + 1e-9)).toBeCloseTo(1.0, 6);
    expect(predictP95(c, shape, 1 / 0.4)).toBe(Infinity);
    expect(maxThroughput(c, shape)).toBeCloseTo(8 / 3.3, 9);
  });

  test("admissible rate keeps both the latency promise and the utilization headroom", () => {
    const c = { a: 0.1, b: 0.4 };
    const byUtil = admissibleRate(c, shape, 10, 0.85);
    expect(byUtil).toBeCloseTo(0.85 * maxThroughput(c, shape), 9);
    const byLatency = admissibleRate(c, shape, 0.8, 1);
    expect(predictP95(c, shape, byLatency)).toBeLessThanOrEqual(0.8);
    expect(predictP95(c, shape, byLatency + 0.01)).toBeGreaterThan(0.8);
    expect(admissibleRate(c, shape, 0.4, 1)).toBe(0); // one call alone is slower than the promise
  });

  test("a young stream counts as the prior; an old silent one stops holding capacity", () => {
    expect(streamRate(0, 0, 0.25, 10)).toBeCloseTo(0.25, 9);
    expect(streamRate(0, 60, 0.25, 10)).toBeLessThan(0.05);
    expect(streamRate(30, 60, 0.25, 10)).toBeCloseTo(32.5 / 70, 9);
  });
});
