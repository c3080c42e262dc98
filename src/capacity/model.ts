/**
 * The capacity model: what the engine costs, what the streams offer, and the
 * final latency that follows. Pure arithmetic over figures measured as the
 * server runs (no clock, no I/O), so it can be checked on its own.
 *
 * Engine cost is a batch-service model, S(k) = a + b·k seconds for an engine
 * call carrying k utterances. Per utterance rather than per audio second
 * because Whisper pads every utterance to a 30 s window: the encoder, most of
 * the call, costs the same for 2 s and for 20 s of speech.
 *
 * Latency, with λ utterances/s offered to W workers, batch limit K, and no
 * batch wait (the pool sends whatever is queued when a worker frees up):
 * - below saturation of single calls (ρ1 = λ·S(1)/W < 1) an utterance waits
 *   for at most the call in progress, which is busy with probability ρ1:
 *   p95 ≈ S(1)·(1 + ρ1);
 * - above it the workers never idle and batches grow until one call clears
 *   what arrived during the previous one: k = λ·S(k)/W, so k = λ·a/(W − λ·b),
 *   and an utterance waits for the call in progress plus its own:
 *   p95 ≈ 2·S(k);
 * - with λ·b ≥ W, or k beyond K, no batch size keeps up and the queue grows
 *   without bound (Infinity).
 * Both branches meet at ρ1 = 1 (2·S(1)). Admission also keeps λ below
 * `maxUtilization` of the engine's most utterances/s (W·K/S(K)), because
 * real talkers are bursty and the curve is a cliff past that point.
 */

export interface CostSample {
  /** Utterances in the engine call. */
  batch: number;
  /** Seconds the call took. */
  seconds: number;
}

export interface EngineCost {
  /** Fixed seconds per engine call. */
  a: number;
  /** Seconds per utterance in the call. */
  b: number;
}

/**
 * Least squares of call time on batch size. With one batch size only (a
 * lightly loaded server never batches), the fixed part is unknown: all of the
 * cost is put on the utterance, which never overstates capacity.
 */
export function fitCost(samples: readonly CostSample[]): EngineCost | null {
  const n = samples.length;
  if (n === 0) return null;
  let sk = 0;
  let ss = 0;
  for (const s of samples) {
    sk += s.batch;
    ss += s.seconds;
  }
  const mk = sk / n;
  const ms = ss / n;
  let cov = 0;
  let vk = 0;
  for (const s of samples) {
    cov += (s.batch - mk) * (s.seconds - ms);
    vk += (s.batch - mk) ** 2;
  }
  if (vk < 1e-9 * n) return { a: 0, b: ms / mk };
  let b = cov / vk;
  // Noise on a shared machine can tilt the line; a call never gets cheaper per
  // extra utterance than a tenth of the average, nor costs less than nothing.
  const perUtt = ms / mk;
  b = Math.min(Math.max(b, 0.1 * perUtt), perUtt);
  const a = Math.max(0, ms - b * mk);
  return { a, b };
}

export interface ServiceShape {
  workers: number;
  /** Most utterances per engine call (batch_size). */
  maxBatch: number;
}

/** Engine call time for k utterances. */
export function callSeconds(c: EngineCost, k: number): number {
  return c.a + c.b * k;
}

/** Most utterances per second the engine can finish (full batches on every worker). */
export function maxThroughput(c: EngineCost, shape: ServiceShape): number {
  return (shape.workers * shape.maxBatch) / callSeconds(c, shape.maxBatch);
}

/** Predicted p95 of hand-off → result, seconds, at `lambda` utterances/s (see the header). */
export function predictP95(c: EngineCost, shape: ServiceShape, lambda: number): number {
  const s1 = callSeconds(c, 1);
  if (lambda <= 0) return s1;
  const rho1 = (lambda * s1) / shape.workers;
  if (rho1 < 1) return s1 * (1 + rho1);
  if (lambda * c.b >= shape.workers) return Infinity;
  const k = Math.max(1, (lambda * c.a) / (shape.workers - lambda * c.b));
  if (k > shape.maxBatch) return Infinity;
  return 2 * callSeconds(c, k);
}

/**
 * Most utterances/s that keep the predicted p95 within `maxLatency` and the
 * load within `maxUtilization` of the engine's throughput. predictP95 grows
 * with λ, so bisection finds the edge.
 */
export function admissibleRate(c: EngineCost, shape: ServiceShape, maxLatency: number, maxUtilization: number): number {
  let hi = maxUtilization * maxThroughput(c, shape);
  if (predictP95(c, shape, hi) <= maxLatency) return hi;
  let lo = 0;
  if (predictP95(c, shape, lo) > maxLatency) return 0;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (predictP95(c, shape, mid) <= maxLatency) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * A stream's utterance rate, shrunk toward `prior` while the stream is young:
 * (n + prior·τ) / (t + τ). A new stream counts as a typical talker; after a
 * few multiples of τ its own rate dominates, so a silent open microphone
 * stops holding capacity.
 */
export function streamRate(utterances: number, seconds: number, prior: number, tau: number): number {
  return (utterances + prior * tau) / (Math.max(0, seconds) + tau);
}
