/**
 * Cross-client dynamic batching over a fixed set of executors (engine workers).
 *
 * - Requests wait in per-stream FIFO queues. Whenever an executor is free, one
 *   batch is formed round-robin across streams (one request per stream per
 *   turn, rotating, so a busy stream cannot starve the others), of its share of
 *   the backlog (queued / executors) up to `batchSize`; with `batchWaitMs` > 0 a
 *   partial batch waits up to that long (measured from its oldest request) for
 *   more requests.
 * - Results go back to each request's own promise, and per stream the promises
 *   settle in submission order even when batches finish out of order.
 * - A stream with `maxQueuePerStream` requests already waiting gets the next one
 *   rejected at once with an Error whose `code` is "queue_full".
 * - Interim requests (best-effort live hypotheses) wait in a lane of their own
 *   (interim-lane.ts: one per stream, started only where no final can need the
 *   executor, settled as soon as they finish, no ordering with finals).
 */
import { InterimLane } from "./interim-lane.ts";
import { PoolClosedError, type Executor, type Job, type Outcome } from "./job.ts";
import { Recent } from "./recent.ts";

export { PoolClosedError, SupersededError, type Executor } from "./job.ts";

export interface PoolStats {
  /** Requests waiting for an executor. */
  queueDepth: number;
  /** Requests inside running batches. */
  inFlight: number;
  /** Streams with waiting or unsettled requests. */
  streams: number;
  executors: number;
  busyExecutors: number;
  /** Batches dispatched since start. */
  batches: number;
  /** Requests dispatched since start. */
  dispatched: number;
  completed: number;
  failed: number;
  /** Requests refused with queue_full. */
  rejected: number;
  /** Milliseconds executors were busy, finals and interims together. */
  busyMs: number;
  /**
   * Interim requests: dispatched, replaced by a newer one before dispatch,
   * waiting now; and finals that found every executor busy while an interim
   * held one (what interims cost finals in queueing).
   */
  interims: { dispatched: number; superseded: number; waiting: number; finalsBehind: number };
  /** Finals announced with expectFinal() and not yet submitted or expired. */
  expectedFinals: number;
  /** batch size -> number of batches of that size. */
  batchSizeHistogram: Record<number, number>;
  /** Milliseconds from submission to dispatch (last 2048 requests). */
  queueWaitMs: { count: number; mean: number; p50: number; p99: number; max: number };
  /** Milliseconds executors spent per batch (last 2048 batches). */
  batchMs: { count: number; mean: number; p50: number; p99: number; max: number };
}

export interface PoolOptions {
  batchSize: number;
  batchWaitMs: number;
  maxQueuePerStream: number;
  /**
   * Most of the executors' time interims may take (0..1, over the last few
   * seconds); past it interims wait and newer ones replace them, so with many
   * streams interims thin out before finals slow down. Default 0.5.
   */
  interimShare?: number;
  /**
   * Called when the whole engine has stayed idle (no executor busy, no final
   * waiting) for `idleDelayMs` since its last executor finished.
   */
  onIdle?: (lastExecutor: number) => void;
  /** How long the engine must stay idle before onIdle; default 0 (at once). */
  idleDelayMs?: number;
}

export class QueueFullError extends Error {
  readonly code = "queue_full";
  constructor(key: string, limit: number) {
    super(`stream ${key} already has ${limit} utterances waiting for the engine`);
    this.name = "QueueFullError";
  }
}

interface Stream<Req, Res> {
  waiting: Job<Req, Res>[];
  unsettled: Job<Req, Res>[];
}

export class BatchPool<Req, Res> {
  private readonly streams = new Map<string, Stream<Req, Res>>();
  /** Streams with waiting requests, in round-robin order. */
  private readonly order: string[] = [];
  private readonly interims: InterimLane<Req, Res>;
  private readonly idle: number[] = [];
  private readonly busy = new Set<number>();
  private queued = 0;
  private inFlight = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private anon = 0;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly stats = {
    batches: 0,
    dispatched: 0,
    completed: 0,
    failed: 0,
    rejected: 0,
    finalsBehindInterims: 0,
    busyMs: 0,
    hist: {} as Record<number, number>,
    wait: new Recent(2048),
    batchMs: new Recent(2048),
  };

  constructor(
    private readonly executors: Executor<Req, Res>[],
    private readonly opts: PoolOptions,
  ) {
    if (executors.length < 1) throw new Error("BatchPool needs at least one executor");
    if (opts.batchSize < 1) throw new Error("batchSize must be >= 1");
    if (opts.maxQueuePerStream < 1) throw new Error("maxQueuePerStream must be >= 1");
    executors.forEach((_, i) => this.idle.push(i));
    this.interims = new InterimLane(executors.length, opts.interimShare ?? 0.5, () => this.schedule());
  }

  submit(req: Req, streamKey?: string, priority: "final" | "interim" = "final"): Promise<Res> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    const key = streamKey ?? `\u0000anon:${this.anon++}`;
    if (priority === "interim") {
      const answer = this.interims.offer(req, key);
      this.schedule();
      return answer;
    }
    let s = this.streams.get(key);
    if (!s) {
      s = { waiting: [], unsettled: [] };
      this.streams.set(key, s);
    }
    this.interims.finalArrived(key);
    if (s.waiting.length >= this.opts.maxQueuePerStream) {
      this.stats.rejected++;
      return Promise.reject(new QueueFullError(key, this.opts.maxQueuePerStream));
    }
    const stream = s;
    return new Promise<Res>((resolve, reject) => {
      const job: Job<Req, Res> = { req, key, interim: false, enqueuedAt: performance.now(), resolve, reject };
      if (stream.waiting.length === 0) this.order.push(key);
      if (this.idle.length === 0 && this.interims.runningCount > 0) this.stats.finalsBehindInterims++;
      stream.waiting.push(job);
      stream.unsettled.push(job);
      this.queued++;
      this.schedule();
    });
  }

  /** Final requests waiting for an executor now (O(1): asked before every interim). */
  get waitingFinals(): number {
    return this.queued;
  }

  /**
   * Drops the stream's waiting interim request, if any (its utterance is
   * closing: the answer would come after the final, for nothing). Returns
   * whether one was waiting. A running one cannot be stopped.
   */
  withdrawInterim(key: string): boolean {
    return this.interims.withdraw(key);
  }

  /**
   * The stream's utterance ends in silence: its final is due within
   * `withinMs` unless speech resumes. Until the final is submitted, the
   * announcement lapses or `withinMs` <= 0 withdraws it, interims keep an
   * executor idle for it (with more than one executor; with one, an interim
   * is a short batched call that finals wait out, as on a GPU).
   * Why: the final is known to be coming ~silence_duration before it arrives,
   * longer than an interim call takes, and a running call cannot be cut short.
   */
  expectFinal(key: string, withinMs: number): void {
    if (this.interims.expect(key, withinMs)) this.schedule();
  }

  /** Drops every waiting interim request (load shedding); returns how many. */
  shedInterims(): number {
    return this.interims.shed();
  }

  getStats(): PoolStats {
    return {
      queueDepth: this.queued,
      inFlight: this.inFlight,
      streams: this.streams.size,
      executors: this.executors.length,
      busyExecutors: this.busy.size,
      batches: this.stats.batches,
      dispatched: this.stats.dispatched,
      completed: this.stats.completed,
      failed: this.stats.failed,
      rejected: this.stats.rejected,
      busyMs: this.stats.busyMs,
      interims: { ...this.interims.counts, waiting: this.interims.waitingCount, finalsBehind: this.stats.finalsBehindInterims },
      expectedFinals: this.interims.dueFinals(),
      batchSizeHistogram: { ...this.stats.hist },
      queueWaitMs: this.stats.wait.summary(),
      batchMs: this.stats.batchMs.summary(),
    };
  }

  /** Recent queue waits and batch durations (ms), oldest first. */
  recent(): { queueWaitMs: number[]; batchMs: number[] } {
    return { queueWaitMs: this.stats.wait.list(), batchMs: this.stats.batchMs.list() };
  }

  /** Rejects waiting requests, waits for running batches. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.interims.close();
    for (const key of this.order.splice(0)) {
      const s = this.streams.get(key);
      if (!s) continue;
      for (const job of s.waiting.splice(0)) {
        this.queued--;
        job.outcome = { ok: false, error: new PoolClosedError() };
      }
      this.flush(key);
    }
    if (this.inFlight > 0) await new Promise<void>((r) => this.drainWaiters.push(r));
  }

  /** Interims' share of executor time over the recent window (0..1). */
  interimLoad(): number {
    return this.interims.load();
  }

  private schedule(): void {
    // Interims first, but only where the lane says no final can need the
    // executor; what is left goes to finals.
    while (!this.closed && this.interims.mayStart(this.idle.length, this.queued)) {
      const slot = this.idle.shift()!;
      this.dispatch(slot, this.interims.take(this.opts.batchSize, slot));
    }
    this.interims.holdIfWaiting(this.idle.length, this.queued);
    while (!this.closed && this.idle.length > 0 && this.queued > 0) {
      if (this.opts.batchWaitMs > 0 && this.queued < this.opts.batchSize) {
        const oldest = this.oldestWaiting();
        const waited = performance.now() - oldest;
        if (waited < this.opts.batchWaitMs) {
          if (!this.timer) {
            this.timer = setTimeout(() => {
              this.timer = null;
              this.schedule();
            }, Math.max(0, this.opts.batchWaitMs - waited));
          }
          return;
        }
      }
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      this.dispatch(this.idle.shift()!, this.formBatch(this.share()));
    }
  }

  /**
   * Most finals one executor takes now: its share of the backlog among all
   * executors, not the whole of it. The first executor to free up used to take
   * every queued final (up to batchSize) while the other finished a moment
   * later with nothing to do; on a CPU, where a batch of k costs nearly k
   * calls, each of those finals then waited for the whole batch (bench:overload:
   * engine calls of 3-5 s at p95 where one takes 0.65 s). With one executor
   * (a GPU) this is the whole backlog, as before.
   */
  private share(): number {
    return Math.min(this.opts.batchSize, Math.ceil(this.queued / this.executors.length));
  }

  private oldestWaiting(): number {
    let t = Infinity;
    for (const key of this.order) {
      const j = this.streams.get(key)?.waiting[0];
      if (j && j.enqueuedAt < t) t = j.enqueuedAt;
    }
    return t;
  }

  private formBatch(limit: number): Job<Req, Res>[] {
    const batch: Job<Req, Res>[] = [];
    while (batch.length < limit && this.order.length > 0) {
      const key = this.order.shift()!;
      const s = this.streams.get(key)!;
      batch.push(s.waiting.shift()!);
      this.queued--;
      if (s.waiting.length > 0) this.order.push(key);
    }
    return batch;
  }

  private dispatch(slot: number, batch: Job<Req, Res>[]): void {
    const now = performance.now();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.busy.add(slot);
    this.inFlight += batch.length;
    const finals = batch[0]?.interim !== true;
    if (finals) {
      // Batching and wait figures describe finals; interims are best-effort extras.
      this.stats.batches++;
      this.stats.dispatched += batch.length;
      this.stats.hist[batch.length] = (this.stats.hist[batch.length] ?? 0) + 1;
      for (const j of batch) this.stats.wait.add(now - j.enqueuedAt);
    }
    const exec = this.executors[slot]!;
    let run: Promise<Array<Outcome<Res>>>;
    try {
      run = exec(batch.map((j) => j.req));
    } catch (e) {
      run = Promise.reject(e);
    }
    run
      .then(
        (outcomes) => batch.forEach((j, i) => (j.outcome = outcomes[i] ?? { ok: false, error: new Error("executor returned too few results") })),
        (e: unknown) => {
          const err = e instanceof Error ? e : new Error(String(e));
          for (const j of batch) j.outcome = { ok: false, error: err };
        },
      )
      .finally(() => {
        if (finals) this.stats.batchMs.add(performance.now() - now);
        const ms = performance.now() - now;
        this.stats.busyMs += ms;
        this.inFlight -= batch.length;
        this.busy.delete(slot);
        this.idle.push(slot);
        if (!finals) this.interims.finished(slot, ms, batch);
        const keys = new Set(batch.filter((j) => !j.interim).map((j) => j.key));
        for (const key of keys) this.flush(key);
        if (this.inFlight === 0) for (const w of this.drainWaiters.splice(0)) w();
        this.schedule();
        if (!this.closed && this.busy.size === 0 && this.queued === 0) this.idleAfter(slot);
      });
  }

  private idleAfter(slot: number): void {
    const onIdle = this.opts.onIdle;
    if (!onIdle) return;
    const delay = this.opts.idleDelayMs ?? 0;
    if (delay <= 0) return onIdle(slot);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (!this.closed && this.busy.size === 0 && this.queued === 0) onIdle(slot);
    }, delay);
  }

  /** Settles a stream's finished requests in submission order. */
  private flush(key: string): void {
    const s = this.streams.get(key);
    if (!s) return;
    while (s.unsettled.length > 0 && s.unsettled[0]!.outcome) {
      const job = s.unsettled.shift()!;
      const o = job.outcome!;
      if (o.ok) {
        this.stats.completed++;
        job.resolve(o.value);
      } else {
        this.stats.failed++;
        job.reject(o.error);
      }
    }
    if (s.unsettled.length === 0 && s.waiting.length === 0) this.streams.delete(key);
  }
}
