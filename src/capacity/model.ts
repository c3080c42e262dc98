/**
 * The capacity model: what the engine costs, what the streams offer, and the
 * final latency that follows. Pure arithmetic over figures measured as the
 * server runs (no clock, no I/O), so it can be checked on its own.
 *
 * Engine cost is a batch-service model, S(k) = a + b·k seconds for an engine
 * call carrying k utterances, with the measured spread of call times around
 * that line (its squared coefficient of variation, scv). Per utterance rather
 * than per audio second because Whisper pads every utterance to a 30 s
 * window: the encoder, most of the call, costs the same for 2 s and 20 s.
 *
 * Latency, with λ utterances/s offered to W workers and batch limit K: the
 * engine is a queue with W servers (M/G/W). With batches of k utterances, a
 * "job" arrives at λ/k per second and takes S(k); the wait's tail is Erlang
 * C's, stretched by Allen–Cunneen's g = (ca² + cs²)/2 for non-exponential
 * service (ca² = 1: talkers end utterances independently of each other):
 *   P(wait > t) ≈ C(W, A)·exp(−(W − A)·t / (g·S(k))),  A = λ·S(k)/k,
 * and the p95 of hand-off → result is the call's own p95 plus the wait's,
 * taken at the batch size that serves best (the pool takes what is queued).
 * The previous model (one call in progress at most: S(1)·(1 + ρ)) ignored the
 * queue that forms when several talkers end utterances together, which is what
 * set the tail in bench:overload (docs/benchmarks.md). With A ≥ W at every
 * k ≤ K the queue grows without bound (Infinity). Admission also keeps λ
 * below `maxUtilization` of the engine's most utterances/s (W·K/S(K)).
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
  /** Squared coefficient of variation of call times around a + b·k (0 when unknown: steady calls). */
  scv?: number;
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
  if (vk < 1e-9 * n) {
    const b = ms / mk;
    return { a: 0, b, scv: spread(samples, 0, b) };
  }
  let b = cov / vk;
  // Noise on a shared machine can tilt the line; a call never gets cheaper per
  // extra utterance than a tenth of the average, nor costs less than nothing.
  const perUtt = ms / mk;
  b = Math.min(Math.max(b, 0.1 * perUtt), perUtt);
  const a = Math.max(0, ms - b * mk);
  return { a, b, scv: spread(samples, a, b) };
}

/** Mean squared relative deviation of the calls from the fitted line. */
function spread(samples: readonly CostSample[], a: number, b: number): number {
  if (samples.length < 2) return 0;
  let sum = 0;
  for (const s of samples) {
    const fit = a + b * s.batch;
    if (fit > 0) sum += ((s.seconds - fit) / fit) ** 2;
  }
  return sum / (samples.length - 1);
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

/** One-sided normal quantile for a p95. */
const Z95 = 1.645;
/** Arrivals' squared coefficient of variation: independent talkers (Poisson). */
const ARRIVAL_SCV = 1;

/** Erlang C: probability that a job waits, W servers, offered load A < W (Erlang B recursion). */
export function erlangC(workers: number, load: number): number {
  if (load <= 0) return 0;
  if (load >= workers) return 1;
  let b = 1;
  for (let k = 1; k <= workers; k++) b = (load * b) / (k + load * b);
  return (workers * b) / (workers - load * (1 - b));
}

/** Predicted p95 of hand-off → result, seconds, at `lambda` utterances/s (see the header). */
export function predictP95(c: EngineCost, shape: ServiceShape, lambda: number): number {
  const cv = Math.sqrt(Math.max(0, c.scv ?? 0));
  if (lambda <= 0) return callSeconds(c, 1) * (1 + Z95 * cv);
  // The pool takes whatever is queued when a worker frees up, so the batch
  // settles near the size that serves best; each fixed size k is an M/G/W
  // queue of batches, and the least of their p95s is the prediction (still
  // rising with λ, as each of them does).
  let best = Infinity;
  for (let k = 1; k <= shape.maxBatch; k++) best = Math.min(best, p95AtBatch(c, shape.workers, lambda, k, cv));
  return best;
}

function p95AtBatch(c: EngineCost, workers: number, lambda: number, k: number, cv: number): number {
  const sk = callSeconds(c, k);
  const load = (lambda * sk) / k;
  if (load >= workers) return Infinity;
  const waits = erlangC(workers, load);
  const g = (ARRIVAL_SCV + cv * cv) / 2;
  const wait95 = waits > 0.05 ? ((g * sk) / (workers - load)) * Math.log(waits / 0.05) : 0;
  return sk * (1 + Z95 * cv) + wait95;
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
 * (n + prior·τ·f) / (t + τ·f), where `utterances` were counted over the last
 * min(age, window) = t seconds and f = 1 − age/window fades the prior out
 * over the first window. A new stream counts as a typical talker; once it has
 * a full window of its own, only its own rate counts, so a silent open
 * microphone holds nothing after one window (a plain (n + prior·τ)/(t + τ)
 * with t capped at the window kept a seventh of the prior for ever).
 */
export function streamRate(utterances: number, ageSeconds: number, prior: number, tau: number, window = 60): number {
  const age = Math.max(0, ageSeconds);
  const t = Math.min(age, window);
  const w = tau * Math.max(0, 1 - age / window);
  if (t + w <= 0) return prior;
  return (utterances + prior * w) / (t + w);
}
