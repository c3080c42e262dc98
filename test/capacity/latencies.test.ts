/** Latencies alone: the slow start's step shrinks as the measured p95 nears the promise. */
import { describe, expect, test } from "bun:test";
import { Latencies, SLOW_START_GROWTH, slowStartGrowth } from "../../src/capacity/latencies.ts";

describe("slow start step", () => {
  test("full step with headroom or no p95 yet, down to none at the promise", () => {
    expect(slowStartGrowth(null, 2)).toBe(SLOW_START_GROWTH);
    expect(slowStartGrowth(0.5, 2)).toBe(SLOW_START_GROWTH);
    expect(slowStartGrowth(0.8, 2)).toBeCloseTo(1.5, 9);
    expect(slowStartGrowth(1.4, 2)).toBeCloseTo(1.25, 9);
    expect(slowStartGrowth(1.8, 2)).toBeCloseTo(1 + 0.5 / 6, 9);
    expect(slowStartGrowth(2, 2)).toBe(1);
  });

  test("the same load proven at a high p95 allows less than at a low one; a later larger allowance wins", () => {
    const fast = new Latencies(2);
    const slow = new Latencies(2);
    // Eight finals at a small load first, so the proofs at 2 finals/s have a p95 to read.
    for (let i = 0; i < 10; i++) {
      const rate = i < 8 ? 0.5 : 2;
      fast.add(i * 100, 0.3, 0.3, () => rate);
      slow.add(i * 100, 1.7, 1.7, () => rate);
    }
    expect(fast.proven(1000)).toEqual({ allowed: 3, served: 2 });
    expect(slow.proven(1000).served).toBe(2);
    expect(slow.proven(1000).allowed).toBeCloseTo(2 * (1 + 0.5 * (0.15 / 0.6)), 9);
    // A final over the promise proves nothing.
    const none = new Latencies(2);
    none.add(0, 2.5, 1, () => 5);
    expect(none.proven(0)).toEqual({ allowed: 0, served: 0 });
    // Proof lapses after ten minutes.
    expect(fast.proven(1000 + 10 * 60_000 + 1)).toEqual({ allowed: 0, served: 0 });
  });
});
