/**
 * One VAD worker and the frames queued for it. While the worker scores a
 * cycle, the frames that arrive from any of its streams are copied into one
 * array and go out together as the next cycle: one message, that one buffer
 * transferred (not copied), and transferred back with the probabilities so
 * the two buffers take turns and nothing is allocated per cycle. A cycle
 * starts at most every MIN_CYCLE_MS: a message to a worker costs the main
 * thread more than the frames it carries, so many streams' chunks should
 * share one. A worker that dies is replaced; its streams lose their recurrent
 * state (they restart cold) and the frames in flight count as failed, so
 * sessions treat them as silence.
 */
import { VAD_FRAME, type CycleJob } from "./batch.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

/** Shortest time between two cycles' starts; far below a frame (32 ms) and the shortest silence_duration (50 ms). */
const MIN_CYCLE_MS = 10;

export interface LaneJob {
  id: number;
  count: number;
  faultAt: number;
  resolve: (probs: Float32Array) => void;
  reject: (err: Error) => void;
}

type Queued = LaneJob & CycleJob;
type Init = Extract<ToWorker, { type: "init" }>;

export class VadLane {
  private worker!: Worker;
  private ready!: Promise<void>;
  private queue: Queued[] = [];
  /** Where queued frames are copied; `used` samples of it hold them. */
  private pack = new Float32Array(32 * VAD_FRAME);
  private used = 0;
  /** The other buffer, back from the worker (null while it is there). */
  private spare: Float32Array<ArrayBuffer> | null = new Float32Array(32 * VAD_FRAME);
  private inFlight: { cycle: number; jobs: Queued[] } | null = null;
  private scheduled = false;
  private lastStart = -Infinity;
  private cycles = 0;
  private frees: number[] = [];
  private closed = false;
  private onClosed: (() => void) | null = null;
  /** Streams routed here so far (for spreading new ones). */
  assigned = 0;

  private constructor(
    private readonly init: Init,
    private readonly tally: (calls: number, frames: number) => void,
  ) {}

  static async start(init: Init, tally: (calls: number, frames: number) => void): Promise<VadLane> {
    const lane = new VadLane(init, tally);
    lane.spawn();
    await lane.ready;
    return lane;
  }

  /** Queues a stream's frames (copied now, so the caller may reuse `frames` at once). */
  submit(job: LaneJob, frames: Float32Array | readonly Float32Array[]): void {
    if (this.closed) return job.reject(new Error("VAD is closed"));
    const n = job.count * VAD_FRAME;
    if (this.used + n > this.pack.length) {
      const next = new Float32Array(Math.max(this.pack.length * 2, this.used + n));
      next.set(this.pack.subarray(0, this.used));
      this.pack = next;
    }
    if (frames instanceof Float32Array) this.pack.set(frames, this.used);
    else frames.forEach((f, i) => this.pack.set(f, this.used + i * VAD_FRAME));
    this.queue.push({ ...job, offset: this.used });
    this.used += n;
    this.schedule();
  }

  /** Forgets a stream's state (its handle was collected). */
  free(id: number): void {
    this.frees.push(id);
    if (!this.inFlight && !this.closed) this.flushFrees();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error("VAD is closed"));
    const done = new Promise<void>((r) => (this.onClosed = r));
    this.post({ type: "close" });
    holds(this.worker, true);
    await Promise.race([done, Bun.sleep(5000)]);
    this.worker.terminate();
  }

  private spawn(): void {
    const w = new Worker(new URL("./worker.ts", import.meta.url).href);
    this.worker = w;
    this.ready = new Promise<void>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") {
          // Idle workers must not keep a process alive; a cycle in flight does.
          holds(w, false);
          resolve();
          this.dispatch();
        } else if (m.type === "init_failed") reject(new Error(`Silero VAD could not load: ${m.message}`));
        else this.receive(m);
      };
      w.onerror = (e: ErrorEvent) => {
        const err = new Error(`VAD worker failed: ${e.message}`);
        reject(err);
        this.replace(err);
      };
    });
    this.ready.catch(() => {}); // start() reports a failed first load; later ones surface per job
    w.postMessage({ ...this.init } satisfies ToWorker);
  }

  private replace(err: Error): void {
    const lost = this.inFlight?.jobs ?? [];
    this.inFlight = null;
    for (const j of lost) j.reject(err);
    this.frees = []; // the new worker holds no state to free
    this.worker.terminate();
    if (!this.closed) this.spawn();
  }

  /** Starts the next cycle soon: at once (after this tick's other frames) or when MIN_CYCLE_MS has passed. */
  private schedule(): void {
    if (this.scheduled || this.inFlight || this.queue.length === 0) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.dispatch();
    };
    const wait = this.lastStart + MIN_CYCLE_MS - performance.now();
    if (wait <= 0) queueMicrotask(go);
    else setTimeout(go, wait);
  }

  private dispatch(): void {
    if (this.inFlight || this.queue.length === 0 || this.closed) return;
    const jobs = this.queue;
    const samples = this.pack.subarray(0, this.used);
    this.queue = [];
    this.pack = this.spare ?? new Float32Array(this.pack.length);
    this.spare = null;
    this.used = 0;
    const cycle = ++this.cycles;
    this.inFlight = { cycle, jobs };
    this.lastStart = performance.now();
    this.flushFrees();
    holds(this.worker, true);
    this.post(
      { type: "cycle", cycle, samples, jobs: jobs.map((j) => ({ id: j.id, offset: j.offset, count: j.count, faultAt: j.faultAt })) },
      [samples.buffer as ArrayBuffer],
    );
  }

  private receive(m: FromWorker): void {
    if (m.type === "closed") return this.onClosed?.();
    if (m.type !== "done" && m.type !== "cycle_failed") return;
    const flight = this.inFlight;
    if (!flight || flight.cycle !== m.cycle) return;
    this.inFlight = null;
    this.spare = new Float32Array(m.samples.buffer as ArrayBuffer);
    if (m.type === "cycle_failed") {
      for (const j of flight.jobs) j.reject(new Error(m.message));
    } else {
      this.tally(m.calls, m.frames);
      let off = 0;
      flight.jobs.forEach((j, k) => {
        const err = m.errors[k];
        if (err) j.reject(new Error(err));
        else j.resolve(m.probs.subarray(off, off + j.count));
        off += j.count;
      });
    }
    if (this.queue.length === 0) holds(this.worker, false);
    this.flushFrees();
    this.schedule();
  }

  private flushFrees(): void {
    if (this.frees.length === 0) return;
    this.post({ type: "free", ids: this.frees });
    this.frees = [];
  }

  private post(m: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(m, transfer);
  }
}

/** Bun's Worker ref/unref (absent from the DOM typing the project compiles against). */
function holds(w: Worker, alive: boolean): void {
  const bun = w as unknown as { ref(): void; unref(): void };
  if (alive) bun.ref();
  else bun.unref();
}
