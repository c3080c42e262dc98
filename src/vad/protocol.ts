/** Messages between SileroVad (main thread) and its VAD workers (src/vad/worker.ts). */
import type { CycleJob, CycleResult } from "./batch.ts";

export type ToWorker =
  | { type: "init"; modelPath: string; threads: number }
  | { type: "cycle"; cycle: number; jobs: CycleJob[] }
  /** Streams whose state handles were collected on the main thread. */
  | { type: "free"; ids: number[] }
  | { type: "close" };

export type FromWorker =
  | { type: "ready" }
  | { type: "init_failed"; message: string }
  | ({ type: "done"; cycle: number } & CycleResult)
  /** The whole cycle failed (not one stream's frame): every job in it gets this error. */
  | { type: "cycle_failed"; cycle: number; message: string }
  | { type: "closed" };
