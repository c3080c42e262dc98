/**
 * One VAD worker and the frames queued for it. While the worker scores a
 * cycle, the frames that arrive from any of its streams queue up here and go
 * out together as the next cycle: one message, their buffers transferred,
 * not copied. A worker that dies is replaced; its streams lose their
 * recurrent state (they restart cold) and the frames in flight count as
 * failed, so sessions treat them as silence.
 */
import type { CycleJob } from "./batch.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

export interface LaneJob extends CycleJob {
  /** Frames in `samples` (which is detached once transferred). */
  count: number;
  resolve: (probs: Float32Array) => void;
  reject: (err: Error) => void;
}

type Init = Extract<ToWorker, { type: "init" }>;

export class VadLane {
  private worker!: Worker;
  private ready!: Promise<void>;
  private queue: LaneJob[] = [];
  private inFlight: { cycle: number; jobs: LaneJob[] } | null = null;
  private scheduled = false;
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

  submit(job: LaneJob): void {
    if (this.closed) return job.reject(new Error("VAD is closed"));
    this.queue.push(job);
    // Frames pushed in the same tick by several streams share one cycle.
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.dispatch();
      });
    }
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

  private dispatch(): void {
    if (this.inFlight || this.queue.length === 0 || this.closed) return;
    const jobs = this.queue;
    this.queue = [];
    const cycle = ++this.cycles;
    this.inFlight = { cycle, jobs };
    this.flushFrees();
    holds(this.worker, true);
    this.post(
      { type: "cycle", cycle, jobs: jobs.map((j) => ({ id: j.id, samples: j.samples, faultAt: j.faultAt })) },
      jobs.map((j) => j.samples.buffer as ArrayBuffer),
    );
  }

  private receive(m: FromWorker): void {
    if (m.type === "closed") return this.onClosed?.();
    if (m.type !== "done" && m.type !== "cycle_failed") return;
    const flight = this.inFlight;
    if (!flight || flight.cycle !== m.cycle) return;
    this.inFlight = null;
    if (m.type === "cycle_failed") {
      for (const j of flight.jobs) j.reject(new Error(m.message));
    } else {
      this.tally(m.calls, m.frames);
      let off = 0;
      flight.jobs.forEach((j, k) => {
        const n = j.count;
        const err = m.errors[k];
        if (err) j.reject(new Error(err));
        else j.resolve(m.probs.subarray(off, off + n));
        off += n;
      });
    }
    if (this.queue.length === 0) holds(this.worker, false);
    this.flushFrees();
    this.dispatch();
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
