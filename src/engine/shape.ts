/**
 * How many engine workers (model replicas, each making its own calls) and
 * CPU threads per worker, when the config leaves it to the server.
 *
 * Measured on 2 cores with tiny.en int8 (bench:throughput, docs/benchmarks.md):
 * two single-thread replicas finish 13 % more utterances/s at saturation than
 * one replica with two threads even when that one batches 8 or 16, because
 * CTranslate2's intra-op threads scale sublinearly on Whisper's small matrices
 * while replicas scale with the cores; one replica with two threads wins only
 * the single call at low load (436 vs 628 ms), which the capacity model weighs
 * against throughput and still admits more streams with two (10 vs 9).
 * Past 4 replicas the extra cores go to threads instead, so one call (a large
 * model on CPU) stays fast enough to meet a latency promise. On CUDA one
 * replica: a GPU gets its throughput from batching, and a second replica would
 * double the model's GPU memory for no measured gain (not measured here: no
 * GPU was lent to this project).
 */
export interface EngineShape {
  workers: number;
  threads: number;
}

/** Replicas the automatic shape stops at on CPU; more cores become threads. */
export const MAX_AUTO_CPU_WORKERS = 4;

export function engineShape(o: {
  /** Configured workers; 0 = automatic. */
  workers: number;
  /** Configured CPU threads per worker; 0 = the cores split evenly. */
  threads: number;
  cuda: boolean;
  cores: number;
}): EngineShape {
  const cores = Math.max(1, Math.floor(o.cores));
  let workers = Math.floor(o.workers);
  if (workers <= 0) {
    if (o.cuda) workers = 1;
    else if (o.threads > 0) workers = Math.min(MAX_AUTO_CPU_WORKERS, Math.max(1, Math.floor(cores / o.threads)));
    else workers = Math.min(MAX_AUTO_CPU_WORKERS, cores);
  }
  const threads = o.threads > 0 ? Math.floor(o.threads) : Math.max(1, Math.floor(cores / workers));
  return { workers, threads };
}
