import type { EngineRequest, EngineResult, SpeechEngine } from "../engine/types.ts";

export interface EngineWatchOptions {
  /** Called for every successful transcription. */
  onResult?(totalMs: number, r: EngineResult): void;
  /** A request in flight longer than this means the workers stopped answering. */
  stallMs?: number;
  /** An idle engine is probed again when its last answer is older than this. */
  probeEveryMs?: number;
  /** How long a probe may take. */
  probeTimeoutMs?: number;
}

export interface EngineHealth {
  ok: boolean;
  reason?: string;
  /** Milliseconds since the engine last answered (null: never). */
  lastAnswerMs: number | null;
  inflight: number;
}

/**
 * Wraps the engine so the server knows whether its workers still answer:
 * every transcription is timed (metrics), requests in flight are tracked
 * (a stuck worker shows as an old request), and an idle engine is pinged with
 * a tiny utterance of silence — never while real work is flowing, so a busy
 * server is not reported unhealthy just because its queue is long.
 */
export class EngineWatch implements SpeechEngine {
  private readonly inflight = new Map<number, number>(); // id → start (ms)
  private nextId = 0;
  private lastAnswerAt: number | null = null;
  private lastFailure: string | null = null;
  private probing: Promise<void> | null = null;
  private readonly stallMs: number;
  private readonly probeEveryMs: number;
  private readonly probeTimeoutMs: number;

  constructor(
    readonly inner: SpeechEngine,
    private readonly opts: EngineWatchOptions = {},
  ) {
    this.stallMs = opts.stallMs ?? 60_000;
    this.probeEveryMs = opts.probeEveryMs ?? 30_000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 10_000;
    if (inner.stats) this.stats = () => inner.stats!();
    if (inner.waitingFinals) this.waitingFinals = () => inner.waitingFinals!();
  }

  get info() {
    return this.inner.info;
  }

  textOf(tokens: readonly number[]): string {
    return this.inner.textOf(tokens);
  }

  stats?: SpeechEngine["stats"];
  waitingFinals?: SpeechEngine["waitingFinals"];

  async transcribe(request: EngineRequest): Promise<EngineResult> {
    const id = this.nextId++;
    const t0 = performance.now();
    this.inflight.set(id, t0);
    try {
      const r = await this.inner.transcribe(request);
      this.lastAnswerAt = performance.now();
      this.lastFailure = null;
      this.opts.onResult?.(this.lastAnswerAt - t0, r);
      return r;
    } catch (err) {
      // A refused request (queue full) says nothing about the workers.
      if ((err as { code?: string }).code !== "queue_full") this.lastFailure = (err as Error).message;
      else this.lastAnswerAt = performance.now();
      throw err;
    } finally {
      this.inflight.delete(id);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Pool liveness, probing the engine when it has been idle for a while. */
  async health(): Promise<EngineHealth> {
    const now = performance.now();
    let oldest = Infinity;
    for (const t of this.inflight.values()) oldest = Math.min(oldest, t);
    if (oldest !== Infinity && now - oldest > this.stallMs && (this.lastAnswerAt === null || now - this.lastAnswerAt > this.stallMs)) {
      return this.report(false, `engine has not answered for ${Math.round((now - oldest) / 1000)} s with ${this.inflight.size} request(s) in flight`);
    }
    const idle = this.inflight.size === 0;
    const stale = this.lastAnswerAt === null || now - this.lastAnswerAt > this.probeEveryMs;
    if (idle && (stale || this.lastFailure)) await this.probe();
    if (this.lastFailure) return this.report(false, `engine failed: ${this.lastFailure}`);
    if (this.lastAnswerAt === null) return this.report(false, "engine has not answered yet");
    return this.report(true);
  }

  private report(ok: boolean, reason?: string): EngineHealth {
    const last = this.lastAnswerAt === null ? null : Math.round(performance.now() - this.lastAnswerAt);
    return { ok, ...(reason ? { reason } : {}), lastAnswerMs: last, inflight: this.inflight.size };
  }

  /** One probe at a time; concurrent health checks share it. */
  private probe(): Promise<void> {
    this.probing ??= (async () => {
      const ping = (this.inner as { ping?: () => Promise<unknown> }).ping;
      const call = ping
        ? ping.call(this.inner)
        : this.inner.transcribe({ audio: new Float32Array(1600), language: null, streamKey: "__health_probe__" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`probe took longer than ${this.probeTimeoutMs} ms`)), this.probeTimeoutMs);
      });
      try {
        await Promise.race([call, timeout]);
        this.lastAnswerAt = performance.now();
        this.lastFailure = null;
      } catch (err) {
        this.lastFailure = (err as Error).message;
      } finally {
        clearTimeout(timer);
        this.probing = null;
      }
    })();
    return this.probing;
  }
}
