/** Messages between SileroVad (main thread) and its VAD workers (src/vad/worker.ts). */
import type { CycleJob, CycleResult } from "./batch.ts";

export type ToWorker =
  | { type: "init"; modelPath: string; threads: number }
  /** Every job's frames back to back in one transferred buffer. */
  | { type: "cycle"; cycle: number; samples: Float32Array; jobs: CycleJob[] }
  /** Streams whose state handles were collected on the main thread. */
  | { type: "free"; ids: number[] }
  | { type: "close" };

export type FromWorker =
  | { type: "ready" }
  | { type: "init_failed"; message: string }
  /** `samples`: the cycle's buffer, handed back for reuse. */
  | ({ type: "done"; cycle: number; samples: Float32Array } & CycleResult)
  /** The whole cycle failed (not one stream's frame): every job in it gets this error. */
  | { type: "cycle_failed"; cycle: number; samples: Float32Array; message: string }
  | { type: "closed" };
