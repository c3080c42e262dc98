import * as ort from "onnxruntime-node";

/**
 * The batched Silero v5 scorer itself: one onnxruntime session and the
 * recurrent state of every stream it serves, keyed by stream id. It runs in a
 * VAD worker (src/vad/worker.ts); nothing here knows about threads, so a
 * test can run the very same code in-process and compare.
 *
 * The model takes [batch, 576] input (64 samples of context + a 512-sample
 * frame) and [2, batch, 128] state, so the frames of N streams that are ready
 * in one cycle cost one inference per frame step, not N.
 */

export const VAD_FRAME = 512;
const CONTEXT = 64;
const STATE = 128;
const SAMPLE_RATE = 16000;
const ROW = CONTEXT + VAD_FRAME;

/** One stream's frames in a cycle: `count` whole frames from sample `offset` of the cycle's samples. */
export interface CycleJob {
  id: number;
  offset: number;
  count: number;
  /** Index of the frame whose scoring is to fail (test hook), or -1. */
  faultAt: number;
}

export interface CycleResult {
  /** Every job's probabilities back to back, in job order. */
  probs: Float32Array;
  /** Per job: why its frames could not be scored, or null. */
  errors: (string | null)[];
  calls: number;
  frames: number;
}

interface StreamState {
  state: Float32Array; // 2 × 128, layer-major
  context: Float32Array; // last 64 samples of the previous frame
}

export class SileroBatch {
  private readonly streams = new Map<number, StreamState>();
  private readonly sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);

  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(modelPath: string, threads = 1): Promise<SileroBatch> {
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
      // ONNX Runtime's arena grows in power-of-two steps with the largest batch
      // ever seen and never gives memory back; Silero's tensors are small, so
      // plain malloc/free costs little and lets the idle trim return it.
      enableCpuMemArena: false,
    });
    return new SileroBatch(session);
  }

  /** Streams with state held here. */
  get size(): number {
    return this.streams.size;
  }

  free(id: number): void {
    this.streams.delete(id);
  }

  /**
   * Scores every job's frames, advancing each stream's state. Step t batches
   * frame t of every job still having one: state is sequential within a
   * stream, parallel across streams. A job whose frame cannot be scored gets
   * an error and stops there; the others are unaffected.
   */
  async cycle(samples: Float32Array, jobs: readonly CycleJob[]): Promise<CycleResult> {
    const counts = jobs.map((j) => j.count);
    const offsets: number[] = [];
    let total = 0;
    for (const c of counts) {
      offsets.push(total);
      total += c;
    }
    const probs = new Float32Array(total);
    const failed = new Map<number, string>();
    const result: CycleResult = { probs, errors: [], calls: 0, frames: 0 };
    const steps = Math.max(0, ...counts);
    for (let t = 0; t < steps; t++) {
      const active: number[] = [];
      for (let k = 0; k < jobs.length; k++) if (t < counts[k]! && !failed.has(k)) active.push(k);
      if (active.length === 0) break;
      try {
        const p = await this.infer(samples, jobs, active, t, result);
        active.forEach((k, i) => (probs[offsets[k]! + t] = p[i]!));
      } catch (batchErr) {
        // One stream's bad frame must not cost the others theirs: score each
        // alone (infer leaves every state untouched when it throws).
        if (active.length === 1) failed.set(active[0]!, message(batchErr));
        else
          for (const k of active) {
            try {
              probs[offsets[k]! + t] = (await this.infer(samples, jobs, [k], t, result))[0]!;
            } catch (err) {
              failed.set(k, message(err));
            }
          }
      }
    }
    jobs.forEach((j, k) => {
      const err = failed.get(k) ?? null;
      result.errors.push(err);
      if (err === null) return;
      // The recurrent state stays as of the last frame scored (Silero's state
      // shapes its next seconds of output, a reset would act like a cold
      // start); the context must join the frame that comes next.
      const end = j.offset + j.count * VAD_FRAME;
      this.stream(j.id).context.set(samples.subarray(end - CONTEXT, end));
    });
    return result;
  }

  private stream(id: number): StreamState {
    let s = this.streams.get(id);
    if (!s) this.streams.set(id, (s = { state: new Float32Array(2 * STATE), context: new Float32Array(CONTEXT) }));
    return s;
  }

  /** Scores frame `t` of the `active` jobs in one call; changes no state when it throws. */
  private async infer(samples: Float32Array, jobs: readonly CycleJob[], active: number[], t: number, tally: CycleResult): Promise<Float32Array> {
    if (active.some((k) => jobs[k]!.faultAt === t)) throw new Error("VAD fault injected (test hook)");
    const n = active.length;
    const input = new Float32Array(n * ROW);
    const state = new Float32Array(2 * n * STATE);
    const streams = active.map((k) => this.stream(jobs[k]!.id));
    for (let i = 0; i < n; i++) {
      const s = streams[i]!;
      input.set(s.context, i * ROW);
      // The one copy of a sample inside the worker: into the batch row.
      const from = jobs[active[i]!]!.offset + t * VAD_FRAME;
      input.set(samples.subarray(from, from + VAD_FRAME), i * ROW + CONTEXT);
      state.set(s.state.subarray(0, STATE), i * STATE);
      state.set(s.state.subarray(STATE), (n + i) * STATE);
    }
    const result = await this.session.run({
      input: new ort.Tensor("float32", input, [n, ROW]),
      state: new ort.Tensor("float32", state, [2, n, STATE]),
      sr: this.sr,
    });
    const probs = result.output!.data as Float32Array;
    const next = result.stateN!.data as Float32Array;
    for (let i = 0; i < n; i++) {
      const s = streams[i]!;
      s.state.set(next.subarray(i * STATE, (i + 1) * STATE), 0);
      s.state.set(next.subarray((n + i) * STATE, (n + i + 1) * STATE), STATE);
      s.context.set(input.subarray(i * ROW + ROW - CONTEXT, (i + 1) * ROW));
    }
    tally.frames += n;
    tally.calls += 1;
    return probs;
  }

  async close(): Promise<void> {
    this.streams.clear();
    await this.session.release();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
