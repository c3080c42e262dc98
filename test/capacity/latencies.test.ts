/** Latencies alone: the slow start's step shrinks as the p95 measured now nears the promise. */
import { describe, expect, test } from "bun:test";
import { Latencies, SLOW_START_GROWTH, slowStartGrowth } from "../../src/capacity/latencies.ts";

describe("slow start step", () => {
  test("the full step with headroom or no p95 yet, none from 0.8 of the promise", () => {
    expect(slowStartGrowth(null, 2)).toBe(SLOW_START_GROWTH);
    expect(slowStartGrowth(0.4, 2)).toBe(SLOW_START_GROWTH);
    expect(slowStartGrowth(0.6, 2)).toBeCloseTo(1.5, 9);
    expect(slowStartGrowth(1.1, 2)).toBeCloseTo(1.25, 9);
    expect(slowStartGrowth(1.6, 2)).toBeCloseTo(1, 9);
    expect(slowStartGrowth(2.5, 2)).toBe(1);
  });

  test("the proven load is kept; the step on it follows the tail measured now", () => {
    const l = new Latencies(2);
    // Eight finals at 2 finals/s with a short tail: the full step on 2.
    for (let i = 0; i < 8; i++) l.add(i * 100, 0.3, 0.3, () => 2);
    expect(l.provenRate(800)).toBe(2);
    expect(l.rampRate(800)).toBeCloseTo(3, 9);
    // The tail grows (finals at 1.7 s, still within the promise, at a lower load):
    // the proof of 2 stays, the step on it goes.
    for (let i = 0; i < 20; i++) l.add(1000 + i * 100, 1.7, 1.7, () => 1);
    expect(l.provenRate(3000)).toBe(2);
    expect(l.rampRate(3000)).toBeCloseTo(2, 9);
    // A final over the promise proves nothing.
    const none = new Latencies(2);
    none.add(0, 2.5, 1, () => 5);
    expect(none.provenRate(0)).toBe(0);
    // Proof lapses after ten minutes.
    expect(l.provenRate(3000 + 10 * 60_000 + 1)).toBe(0);
  });
});
