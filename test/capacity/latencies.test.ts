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

  test("a final proves the load answered over the last 10 s, at most the offered load; the step follows the tail measured now", () => {
    const l = new Latencies(2);
    // 20 finals in 10 s with a short tail, 5 finals/s offered: 2 finals/s answered.
    for (let i = 0; i < 20; i++) l.add(i * 500, 0.3, 0.3, () => 5);
    expect(l.provenRate(9500)).toBeCloseTo(2, 9);
    expect(l.rampRate(9500)).toBeCloseTo(3, 9);
    // Offered below answered: the offered load is what was proven.
    const low = new Latencies(2);
    for (let i = 0; i < 20; i++) low.add(i * 500, 0.3, 0.3, () => 1);
    expect(low.provenRate(9500)).toBe(1);
    // The tail grows (finals at 1.7 s, still within the promise, fewer of them):
    // the proof of 2 stays, the step on it goes.
    for (let i = 0; i < 10; i++) l.add(10_000 + i * 1000, 1.7, 1.7, () => 1);
    expect(l.provenRate(19_000)).toBeCloseTo(2, 9);
    expect(l.rampRate(19_000)).toBeCloseTo(2, 9);
    // A final over the promise proves nothing.
    const none = new Latencies(2);
    none.add(0, 2.5, 1, () => 5);
    expect(none.provenRate(0)).toBe(0);
    // Proof lapses after ten minutes.
    expect(l.provenRate(19_000 + 10 * 60_000 + 1)).toBe(0);
  });
});
