/**
 * End-of-turn detection with Smart Turn v3.2 in a worker thread, so the event
 * loop never waits on it. One run is in flight at a time; pauses of streams
 * that wait meanwhile go into the next run, up to maxBatch in one onnxruntime
 * call (the model's batch dimension is dynamic).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { TurnOutcome, TurnWorkerRequest, TurnWorkerResponse } from "./protocol.ts";

export const SMART_TURN_MODEL_PATH = resolve(import.meta.dir, "../../models/smart-turn/smart-turn-v3.2-cpu.onnx");

/** What the stream core asks: P(the turn is complete) for a stream's turn audio so far. */
export interface TurnDetector {
  /**
   * P(complete) of the turn whose audio (16 kHz mono, from the turn's start up
   * to now, pause included) is given; only its last 8 s matter. If the same
   * clientId asks again before its earlier request was sent to the model,
   * the newer audio replaces it and both promises get the newer result.
   */
  score(clientId: string, audio16k: Float32Array): Promise<number>;
  close(): Promise<void>;
}

export interface SmartTurnOptions {
  modelPath?: string;
  /** onnxruntime intra-op threads of the worker. */
  threads?: number;
  /**
   * Most turns in one model run. Default 1: on CPU a batch of N costs N times
   * one turn (bench:turns: 61-69 ms per turn at N = 1..8), so batching saves
   * nothing and makes the first stream wait for the last; a GPU would gain.
   */
  maxBatch?: number;
}

/** Counters for metrics and benchmarks. */
export interface TurnDetectorStats {
  /** Turns scored. */
  scored: number;
  /** Model runs (each scores a batch). */
  runs: number;
  featureMs: number;
  modelMs: number;
  /** Workers replaced after a crash. */
  restarts: number;
}

interface Waiter {
  resolve: (p: number) => void;
  reject: (e: Error) => void;
}

interface Request {
  audio: Float32Array;
  waiters: Waiter[];
}

export class SmartTurnDetector implements TurnDetector {
  readonly stats: TurnDetectorStats = { scored: 0, runs: 0, featureMs: 0, modelMs: 0, restarts: 0 };
  private pending = new Map<string, Request>();
  private inFlight: Request[] | null = null;
  private worker: Worker | null = null;
  private closed = false;

  private constructor(
    private readonly modelPath: string,
    private readonly threads: number,
    private readonly maxBatch: number,
  ) {}

  static async load(o: SmartTurnOptions = {}): Promise<SmartTurnDetector> {
    const modelPath = o.modelPath ?? SMART_TURN_MODEL_PATH;
    if (!existsSync(modelPath)) {
      throw new Error(`Smart Turn model not found at ${modelPath}: run "bash scripts/fetch-smart-turn.sh" (scripts/setup.sh does)`);
    }
    const d = new SmartTurnDetector(modelPath, Math.max(1, o.threads ?? 1), Math.max(1, o.maxBatch ?? 1));
    d.worker = await d.start();
    return d;
  }

  score(clientId: string, audio16k: Float32Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error("turn detector is closed"));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      const queued = this.pending.get(clientId);
      if (queued) {
        queued.audio = audio16k;
        queued.waiters.push(waiter);
      } else {
        this.pending.set(clientId, { audio: audio16k, waiters: [waiter] });
      }
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error("turn detector is closed");
    for (const r of this.pending.values()) r.waiters.forEach((w) => w.reject(err));
    this.pending.clear();
    this.inFlight?.forEach((r) => r.waiters.forEach((w) => w.reject(err)));
    this.inFlight = null;
    this.worker?.terminate();
    this.worker = null;
  }

  /** Starts a worker and waits until its model is loaded. */
  private start(): Promise<Worker> {
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href);
    return new Promise<Worker>((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent<TurnWorkerResponse>) => {
        if (ev.data.type === "ready") {
          this.watch(worker);
          resolve(worker);
        } else {
          worker.terminate();
          reject(new Error(`Smart Turn model failed to load: ${ev.data.type === "init_error" ? ev.data.message : ev.data.type}`));
        }
      };
      worker.onerror = (ev) => {
        worker.terminate();
        reject(new Error(`turn worker failed to start: ${ev.message}`));
      };
      worker.postMessage({ type: "init", modelPath: this.modelPath, threads: this.threads } satisfies TurnWorkerRequest);
    });
  }

  private dispatch(): void {
    if (this.inFlight || this.pending.size === 0 || this.closed) return;
    if (!this.worker) return void this.restart();
    const batch: Request[] = [];
    for (const [id, r] of this.pending) {
      if (batch.length >= this.maxBatch) break;
      batch.push(r);
      this.pending.delete(id);
    }
    this.inFlight = batch;
    this.worker.postMessage({ type: "run", audios: batch.map((r) => r.audio) } satisfies TurnWorkerRequest);
  }

  private watch(worker: Worker): void {
    worker.onmessage = (ev: MessageEvent<TurnWorkerResponse>) => {
      const msg = ev.data;
      const batch = this.inFlight;
      if (msg.type !== "result" || !batch) return;
      this.inFlight = null;
      this.stats.runs++;
      this.stats.featureMs += msg.featureMs;
      this.stats.modelMs += msg.modelMs;
      batch.forEach((r, i) => this.settle(r, msg.outcomes[i]));
      this.dispatch();
    };
    // A crashed worker fails only the batch it held; a fresh one takes the
    // rest (the model is 8.7 MB, loading it takes tens of ms).
    worker.onerror = (ev) => {
      const failed = this.inFlight ?? [];
      this.inFlight = null;
      worker.terminate();
      if (this.worker === worker) this.worker = null;
      const err = new Error(`turn worker crashed: ${ev.message}`);
      failed.forEach((r) => r.waiters.forEach((w) => w.reject(err)));
      this.dispatch();
    };
  }

  private restarting = false;

  private async restart(): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    try {
      const w = await this.start();
      if (this.closed) return void w.terminate();
      this.worker = w;
      this.stats.restarts++;
    } catch (e) {
      // Nothing can score: fail what waits rather than hang the streams.
      for (const r of this.pending.values()) r.waiters.forEach((w) => w.reject(e as Error));
      this.pending.clear();
    } finally {
      this.restarting = false;
    }
    this.dispatch();
  }

  private settle(r: Request, o: TurnOutcome | undefined): void {
    if (o?.ok) {
      this.stats.scored++;
      r.waiters.forEach((w) => w.resolve(o.probability));
    } else {
      const err = new Error(`turn scoring failed: ${o ? o.message : "no result"}`);
      r.waiters.forEach((w) => w.reject(err));
    }
  }
}
