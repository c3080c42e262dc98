/**
 * The batch pool's lane for interim requests: best-effort live hypotheses that
 * must never cost a final its turn.
 *
 * - At most one interim waits per stream; a newer one supersedes it (the older
 *   is rejected with code "superseded").
 * - An interim may start only when no final waits, while interims have taken
 *   less than `share` of the executors' time lately, and (with more than one
 *   executor) only if an executor stays idle afterwards for every announced
 *   final plus one more: a native call cannot be cut short, so a final
 *   arriving then would wait out a whole interim.
 * - A stream whose utterance is ending (the VAD heard its trailing silence)
 *   announces its final; the announcement ends when the final is submitted,
 *   is withdrawn when speech resumes, and otherwise lapses by itself.
 * Held interims have no event that frees them (share and announcements decay
 * with time), so the lane asks its owner to look again shortly.
 */
import { PoolClosedError, SupersededError, type Job } from "./job.ts";

/** Window over which the interims' share of executor time is measured (ms). */
const SHARE_WINDOW_MS = 4000;
/** How soon held interims are looked at again (ms). */
const RECHECK_MS = 100;

export class InterimLane<Req, Res> {
  /** Waiting interim per stream, oldest first (a Map keeps insertion order). */
  private readonly waiting = new Map<string, Job<Req, Res>>();
  /** Announced finals: stream key -> when the announcement lapses (performance.now() ms). */
  private readonly expected = new Map<string, number>();
  /** Executor time spent on interims, decayed over SHARE_WINDOW_MS. */
  private busy = { ms: 0, at: performance.now() };
  /** Executors running an interim batch now. */
  private readonly running = new Set<number>();
  private recheck: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  readonly counts = { dispatched: 0, superseded: 0 };

  /**
   * @param executors how many executors the pool has
   * @param share most of their time interims may take (0..1)
   * @param wake the pool's scheduler, called when held interims should be looked at again
   */
  constructor(
    private readonly executors: number,
    private readonly share: number,
    private readonly wake: () => void,
  ) {}

  offer(req: Req, key: string): Promise<Res> {
    this.drop(key, new SupersededError());
    return new Promise<Res>((resolve, reject) => {
      this.waiting.set(key, { req, key, interim: true, enqueuedAt: performance.now(), resolve, reject });
    });
  }

  /** Drops the stream's waiting interim; returns whether one waited. A running one cannot be stopped. */
  withdraw(key: string): boolean {
    return this.drop(key, new SupersededError());
  }

  /** Drops every waiting interim (load shedding); returns how many. */
  shed(): number {
    const n = this.waiting.size;
    for (const key of [...this.waiting.keys()]) this.drop(key, new SupersededError());
    return n;
  }

  /**
   * Announces (`withinMs` > 0) or withdraws the stream's final. Returns true
   * when a withdrawal may let a held interim start.
   */
  expect(key: string, withinMs: number): boolean {
    if (withinMs > 0) {
      this.expected.set(key, performance.now() + withinMs);
      return false;
    }
    return this.expected.delete(key);
  }

  /** The stream's final was submitted: its announcement has done its job. */
  finalArrived(key: string): void {
    this.expected.delete(key);
  }

  /** Announced finals still due; lapsed announcements are dropped. */
  dueFinals(): number {
    if (this.expected.size === 0) return 0;
    const now = performance.now();
    for (const [key, until] of this.expected) if (until <= now) this.expected.delete(key);
    return this.expected.size;
  }

  /** Interims' share of executor time over the recent window (0..1). */
  load(): number {
    this.decay();
    return this.busy.ms / (SHARE_WINDOW_MS * this.executors);
  }

  /** Whether an interim batch may start now. */
  mayStart(idleExecutors: number, waitingFinals: number): boolean {
    if (this.closed || this.waiting.size === 0 || waitingFinals > 0) return false;
    const keep = this.executors > 1 ? 1 + this.dueFinals() : 0;
    return idleExecutors > keep && this.load() < this.share;
  }

  /** Takes up to `max` waiting interims, oldest first, to run on `slot`. */
  take(max: number, slot: number): Job<Req, Res>[] {
    const batch: Job<Req, Res>[] = [];
    for (const [key, job] of this.waiting) {
      if (batch.length >= max) break;
      this.waiting.delete(key);
      batch.push(job);
    }
    this.counts.dispatched += batch.length;
    this.running.add(slot);
    return batch;
  }

  /** An interim batch on `slot` finished after `ms`; settles its requests. */
  finished(slot: number, ms: number, batch: Job<Req, Res>[]): void {
    this.decay();
    this.busy.ms += ms;
    this.running.delete(slot);
    for (const j of batch) {
      const o = j.outcome!;
      if (o.ok) j.resolve(o.value);
      else j.reject(o.error);
    }
  }

  /** Executors running an interim now. */
  get runningCount(): number {
    return this.running.size;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  /** After a scheduling pass: interims still held while an executor is idle get another look soon. */
  holdIfWaiting(idleExecutors: number, waitingFinals: number): void {
    const held = this.waiting.size > 0 && waitingFinals === 0 && idleExecutors > 0;
    if (!held || this.recheck || this.closed) return;
    this.recheck = setTimeout(() => {
      this.recheck = null;
      this.wake();
    }, RECHECK_MS);
  }

  close(): void {
    this.closed = true;
    if (this.recheck) clearTimeout(this.recheck);
    this.recheck = null;
    for (const key of [...this.waiting.keys()]) this.drop(key, new PoolClosedError(), false);
  }

  private drop(key: string, error: Error, count = true): boolean {
    const job = this.waiting.get(key);
    if (!job) return false;
    this.waiting.delete(key);
    if (count) this.counts.superseded++;
    job.reject(error);
    return true;
  }

  private decay(): void {
    const now = performance.now();
    this.busy.ms *= Math.exp(-(now - this.busy.at) / SHARE_WINDOW_MS);
    this.busy.at = now;
  }
}
