import type { EngineRequest, EngineResult, SpeechEngine } from "../engine/types.ts";

export interface EngineWatchOptions {
  /** Called for every successful final transcription (interims are best-effort and would skew final latency). */
  onResult?(totalMs: number, r: EngineResult): void;
  /** Called for every successful interim transcription. */
  onInterim?(totalMs: number, r: EngineResult): void;
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
 * Failures that describe the request, not the engine: a newer interim replaced
 * it, the stream's queue was full, the audio or an argument (a prompt without
 * tokenizer.json, an odd temperature) was bad. Counted, never a health signal.
 */
const REQUEST_LEVEL = new Set(["superseded", "queue_full", "invalid_audio", "invalid_argument"]);

/** The reason an engine rejection is counted under: its code, or "unknown" without one. */
export function failureReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[a-z_]{1,40}$/.test(code) ? code : "unknown";
}

/** True when a rejection says something about the request only. */
export function isRequestLevel(reason: string): boolean {
  return REQUEST_LEVEL.has(reason);
}

/**
 * Wraps the engine so the server knows whether its workers still answer —
 * liveness only. A request in flight for longer than stallMs with no answer
 * since means stalled workers; an idle engine is probed with a tiny utterance
 * of silence (never while real work is flowing, so a long queue is not
 * "unhealthy"), and a failed probe means a dead engine. A rejected request
 * never flips health by itself: request-level outcomes are only counted, and
 * an engine-level failure (a worker that died and could not be replaced, an
 * inference error) makes the next idle health check probe at once.
 */
export class EngineWatch implements SpeechEngine {
  private readonly inflight = new Map<number, number>(); // id → start (ms)
  private nextId = 0;
  private lastAnswerAt: number | null = null;
  /** Why the last probe failed; cleared by any answer. */
  private probeFailure: string | null = null;
  /** An engine-level failure since the last answer: probe before calling the engine healthy. */
  private suspect = false;
  private probing: Promise<void> | null = null;
  private readonly failureCounts = new Map<string, number>();
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
    if (inner.withdrawInterim) this.withdrawInterim = (key) => inner.withdrawInterim!(key);
    if (inner.expectFinal) this.expectFinal = (key, ms) => inner.expectFinal!(key, ms);
  }

  get info() {
    return this.inner.info;
  }

  textOf(tokens: readonly number[]): string {
    return this.inner.textOf(tokens);
  }

  stats?: SpeechEngine["stats"];
  waitingFinals?: SpeechEngine["waitingFinals"];
  withdrawInterim?: SpeechEngine["withdrawInterim"];
  expectFinal?: SpeechEngine["expectFinal"];

  /** Rejected requests since start, by reason (superseded, queue_full, invalid_audio, engine_error, ...). */
  failures(): ReadonlyMap<string, number> {
    return this.failureCounts;
  }

  async transcribe(request: EngineRequest): Promise<EngineResult> {
    const id = this.nextId++;
    const t0 = performance.now();
    this.inflight.set(id, t0);
    try {
      const r = await this.inner.transcribe(request);
      this.answered();
      if (request.priority === "interim") this.opts.onInterim?.(this.lastAnswerAt! - t0, r);
      else this.opts.onResult?.(this.lastAnswerAt! - t0, r);
      return r;
    } catch (err) {
      const reason = failureReason(err);
      this.failureCounts.set(reason, (this.failureCounts.get(reason) ?? 0) + 1);
      // A refusal or a bad request says nothing either way: the pool or the
      // request's own checks answered, not the workers (so it must not hide a stall either).
      if (!isRequestLevel(reason)) this.suspect = true;
      throw err;
    } finally {
      this.inflight.delete(id);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Engine liveness, probing the engine when it has been idle for a while or just failed. */
  async health(): Promise<EngineHealth> {
    const now = performance.now();
    let oldest = Infinity;
    for (const t of this.inflight.values()) oldest = Math.min(oldest, t);
    if (oldest !== Infinity && now - oldest > this.stallMs && (this.lastAnswerAt === null || now - this.lastAnswerAt > this.stallMs)) {
      return this.report(false, `engine has not answered for ${Math.round((now - oldest) / 1000)} s with ${this.inflight.size} request(s) in flight`);
    }
    const idle = this.inflight.size === 0;
    const stale = this.lastAnswerAt === null || now - this.lastAnswerAt > this.probeEveryMs;
    if (idle && (stale || this.suspect || this.probeFailure)) await this.probe();
    if (this.probeFailure) return this.report(false, `engine probe failed: ${this.probeFailure}`);
    if (this.lastAnswerAt === null) return this.report(false, "engine has not answered yet");
    return this.report(true);
  }

  private answered(): void {
    this.lastAnswerAt = performance.now();
    this.suspect = false;
    this.probeFailure = null;
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
        this.answered();
      } catch (err) {
        this.probeFailure = (err as Error).message;
      } finally {
        clearTimeout(timer);
        this.probing = null;
      }
    })();
    return this.probing;
  }
}
