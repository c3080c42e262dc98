import type { Config } from "../config/schema.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SileroVad } from "../vad/silero.ts";
import { Session, type SessionOptions, type Utterance } from "./session.ts";
import type { EngineResult } from "../engine/types.ts";

export interface ManagerHooks {
  /** A transcript is ready; called in utterance order per clientId. */
  onResult(session: Session, u: Utterance, r: EngineResult): void;
  /** An utterance could not be transcribed; `ownerSocketId` should hear about it. */
  onError(ownerSocketId: string, code: string, message: string): void;
}

export type AcquireResult = { ok: true; session: Session } | { ok: false; code: "client_id_in_use" | "max_sessions"; message: string };

/**
 * Sessions keyed by clientId. A clientId's audio belongs to one socket at a
 * time: a second socket sending for it is refused (streams are never
 * interleaved) until the first one disconnects or cleans up.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly tails = new Map<Session, Promise<void>>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly opts: SessionOptions;
  private timer: ReturnType<typeof setInterval> | null = null;
  utterances = 0;

  constructor(
    private readonly config: Config,
    private readonly vad: SileroVad,
    private readonly engine: SpeechEngine,
    private readonly hooks: ManagerHooks,
    private readonly log: Logger,
  ) {
    this.opts = {
      sampleRate: config.sample_rate,
      threshold: config.vad_threshold,
      silenceDuration: config.silence_duration,
      minSpeechDuration: config.min_speech_duration,
      speechPad: config.speech_pad,
      maxSegmentDuration: config.max_segment_duration,
      maxBufferedSamples: Math.round(config.limits.max_buffered_seconds * config.sample_rate),
    };
    // processing_interval: how often stalled streams are checked. Speech whose
    // audio stopped arriving (push-to-talk release, a dead client) is closed
    // after stall_timeout instead of waiting for audio that never comes; the
    // timeout is not silence_duration because mobile links deliver audio in
    // bursts, and closing on a 0.5 s gap would cut sentences in two.
    this.timer = setInterval(() => this.closeStalled(), config.processing_interval * 1000);
  }

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  acquire(clientId: string, socketId: string): AcquireResult {
    const existing = this.sessions.get(clientId);
    if (existing) {
      if (existing.ownerSocketId === socketId) return { ok: true, session: existing };
      return {
        ok: false,
        code: "client_id_in_use",
        message: `clientId "${clientId}" is already streaming from another connection; use another clientId or cleanup_client first`,
      };
    }
    if (this.sessions.size >= this.config.limits.max_sessions) {
      return { ok: false, code: "max_sessions", message: `server is at max_sessions (${this.config.limits.max_sessions})` };
    }
    const session = new Session(clientId, socketId, this.vad, this.opts, (u) => this.dispatch(session, u), (err) =>
      this.log.error("VAD failed; frames skipped", { clientId, error: String(err) }),
    );
    this.sessions.set(clientId, session);
    return { ok: true, session };
  }

  /**
   * Ends a session: open speech is flushed as a final utterance and still
   * transcribed and delivered (nothing the client said is lost).
   */
  async release(clientId: string): Promise<boolean> {
    const session = this.sessions.get(clientId);
    if (!session) return false;
    this.sessions.delete(clientId);
    await session.close();
    return true;
  }

  /** Sessions owned by a socket (for disconnect). */
  ownedBy(socketId: string): string[] {
    const out: string[] = [];
    for (const [id, s] of this.sessions) if (s.ownerSocketId === socketId) out.push(id);
    return out;
  }

  /** Resolves when every utterance handed to the engine has been delivered. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Flushes every session (shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.release(id)));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private closeStalled(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (s.inSpeech && now - s.lastAudioAt >= this.config.stall_timeout * 1000) void s.flush();
    }
  }

  /**
   * Utterances go to the engine at once (so they can be batched with other
   * clients'), but results are delivered in utterance order per session.
   */
  private dispatch(session: Session, u: Utterance): void {
    this.utterances++;
    const result = this.engine.transcribe({ audio: u.audio, language: this.config.language, streamKey: u.clientId });
    result.catch(() => {}); // handled below, in order
    const prev = this.tails.get(session) ?? Promise.resolve();
    const next = prev
      .then(() => result)
      .then(
        (r) => this.hooks.onResult(session, u, r),
        (err: Error & { code?: string }) => {
          const code = err.code === "queue_full" ? "queue_full" : "engine_error";
          this.log.error("utterance not transcribed", { clientId: u.clientId, code, error: err.message });
          this.hooks.onError(session.ownerSocketId, code, `utterance ${u.start.toFixed(2)}-${u.end.toFixed(2)}s not transcribed: ${err.message}`);
        },
      )
      .finally(() => {
        this.inflight.delete(next);
        if (this.tails.get(session) === next) this.tails.delete(session);
      });
    this.tails.set(session, next);
    this.inflight.add(next);
  }
}
