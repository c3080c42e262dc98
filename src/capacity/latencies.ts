/**
 * What the node has measured of its own final latency, and the two things
 * admission learns from it: the model's correction (measured p95 over the p95
 * the model predicted at hand-off) and the slow start's proof (the most
 * offered load at which finals still came back within the promise).
 *
 * The slow start's step beyond the proven load shrinks as the p95 measured
 * now nears the promise: half again as much load up to 0.3 of max_latency,
 * none from 0.8 of it. A fixed 1.5x step took a 2-core node from 9 streams
 * (p95 1.65 s) to 13 (2.5 s), past its 2 s promise, and admitted streams are
 * never turned away. The step is read from the p95 of now, not of the proof:
 * a load proven while the tail was short must not let the node jump once it
 * is long.
 */

/** Short, so a node whose load has gone admits again soon after. */
const LATENCY_WINDOW_MS = 10_000;
const MIN_LATENCY_SAMPLES = 8;
/** The learned correction never more than doubles the model's p95 (a burst of noise must not close the node). */
export const MAX_CORRECTION = 2;
/** Weight of one window's measured/predicted ratio in the correction; one update per second at most. */
const CORRECTION_GAIN = 0.3;
const CORRECTION_EVERY_MS = 1000;
/** How long a load served within the promise counts as proven. */
const PROVEN_WINDOW_MS = 10 * 60_000;
/** Largest slow-start step (p95 well below the promise, or too few finals to read one). */
export const SLOW_START_GROWTH = 1.5;
/** Shares of max_latency: the full step up to FULL_STEP_BELOW, none from NO_STEP_FROM. */
const FULL_STEP_BELOW = 0.3;
const NO_STEP_FROM = 0.8;

export class Latencies {
  /** [time ms, seconds, model's p95 at hand-off], oldest first. */
  private readonly samples: [number, number, number][] = [];
  /** [time ms, offered finals/s] when a final came back within the promise; rates strictly decreasing. */
  private readonly proofs: [number, number][] = [];
  private correction = 1;
  private correctedAt = -Infinity;

  constructor(private readonly maxLatency: number) {}

  /**
   * A final came back `seconds` after its audio ended, with the model having
   * predicted `predicted` (uncorrected) and `offeredRate()` finals/s offered now.
   * The load it proves is what the node has actually answered lately, at most
   * the offered load: streams admitted a moment ago count as offered load
   * (the prior) seconds before their first final reaches the engine, and a
   * final that came back in time says nothing yet about them.
   */
  add(now: number, seconds: number, predicted: number, offeredRate: () => number): void {
    this.samples.push([now, seconds, predicted]);
    if (seconds <= this.maxLatency && (this.p95(now) ?? 0) <= this.maxLatency) {
      // A sliding-window maximum: an older entry no larger than this one can never be the answer again.
      const rate = Math.min(offeredRate(), this.servedRate(now));
      while (this.proofs.length > 0 && this.proofs[this.proofs.length - 1]![1] <= rate) this.proofs.pop();
      this.proofs.push([now, rate]);
    }
  }

  /** Drops samples older than the window; `idle` (nothing admitted, nothing in flight) drops all. */
  prune(now: number, idle: boolean): void {
    while (this.samples.length > 0 && now - this.samples[0]![0] > LATENCY_WINDOW_MS) this.samples.shift();
    // How slow the node was under a load that has left says nothing about the next stream.
    if (idle) this.samples.length = 0;
  }

  /**
   * Finals answered per second over the whole window, even when the node has
   * been busy for less: finals answered in a burst over a short span would
   * read as a rate the talkers do not keep up.
   */
  private servedRate(now: number): number {
    let n = 0;
    for (const [t] of this.samples) if (now - t <= LATENCY_WINDOW_MS) n++;
    return n / (LATENCY_WINDOW_MS / 1000);
  }

  /** Measured p95 over the window, or null with too few finals to tell. */
  p95(now: number): number | null {
    const xs = this.samples.filter(([t]) => now - t <= LATENCY_WINDOW_MS).map(([, v]) => v);
    return xs.length < MIN_LATENCY_SAMPLES ? null : p95(xs);
  }

  /** Most offered finals/s at which a final came back within the promise lately. */
  provenRate(now: number): number {
    while (this.proofs.length > 0 && now - this.proofs[0]![0] > PROVEN_WINDOW_MS) this.proofs.shift();
    return this.proofs[0]?.[1] ?? 0;
  }

  /** The offered finals/s the slow start allows now: the proven load and the step the tail leaves room for. */
  rampRate(now: number): number {
    return this.provenRate(now) * slowStartGrowth(this.p95(now), this.maxLatency);
  }

  /**
   * The model's error on this machine. Only ever raises the prediction (up to
   * MAX_CORRECTION), and falls back toward 1 as windows come in on target.
   * Contention the engine's own call times do not show (the VAD and the event
   * loop on the same cores, bursts) lands here.
   */
  learnCorrection(now: number, observed: number | null): number {
    if (observed === null || now - this.correctedAt < CORRECTION_EVERY_MS) return this.correction;
    const predicted = p95(this.samples.filter(([t, , p]) => now - t <= LATENCY_WINDOW_MS && Number.isFinite(p) && p > 0).map(([, , p]) => p));
    if (!(predicted > 0)) return this.correction;
    const ratio = Math.min(MAX_CORRECTION, Math.max(1, observed / predicted));
    this.correction = (1 - CORRECTION_GAIN) * this.correction + CORRECTION_GAIN * ratio;
    this.correctedAt = now;
    return this.correction;
  }
}

export function p95(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!;
}

/**
 * The slow start's step at measured p95 `p95`: SLOW_START_GROWTH up to
 * FULL_STEP_BELOW of the promise, then in a straight line down to 1 (no more
 * than the proven load) at NO_STEP_FROM of it. null (too few finals for a
 * p95): the full step, as the steps from the floor are small.
 */
export function slowStartGrowth(p95: number | null, maxLatency: number): number {
  if (p95 === null) return SLOW_START_GROWTH;
  const headroom = Math.min(1, Math.max(0, (NO_STEP_FROM - p95 / maxLatency) / (NO_STEP_FROM - FULL_STEP_BELOW)));
  return 1 + (SLOW_START_GROWTH - 1) * headroom;
}
