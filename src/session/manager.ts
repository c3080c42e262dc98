import type { Config, StreamDefaults } from "../config/schema.ts";
import type { EngineResult, SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SileroVad } from "../vad/silero.ts";
import type { Hypothesis } from "./agreement.ts";
import { judge, newGuardCounters, transcribeGuarded, type GuardCounters } from "./guards.ts";
import { Session, sessionOptionsFrom, type OpenUtterance, type SessionOptions, type Utterance } from "./session.ts";
import type { SegmenterTuning } from "./segmenter.ts";
import { Ordered } from "../stream/ordered.ts";
import type { TurnDetector } from "../turns/detector.ts";
import { policyOf, segmenterTurnOptions, type TurnSettings } from "../turns/settings.ts";
import { TurnTaking } from "./turn-taking.ts";

/** Per-stream options a sender chose (handshake auth or stream_options); config holds the defaults. */
export type StreamOptions = StreamDefaults;

export interface ManagerHooks {
  /** A final transcript is ready, or null when the guards dropped it; called in utterance order per clientId. */
  onResult(session: Session, u: Utterance, r: EngineResult | null): void;
  /** The segmenter closed an utterance (in order, before its result). */
  onSpeechStopped?(session: Session, u: Utterance): void;
  /** A new hypothesis of the open utterance, in order with that stream's finals. */
  onInterim?(session: Session, u: OpenUtterance, h: Hypothesis): void;
  /** The VAD opened speech (stream seconds). */
  onSpeechStarted?(session: Session, start: number): void;
  /** An utterance could not be transcribed; the stream's owner should hear about it. */
  onError(session: Session, code: string, message: string): void;
  /** turn_detection "model": the turn is probably over (eager_eot_threshold); `text` is the newest hypothesis. */
  onTurnEager?(session: Session, probability: number, text: string): void;
  /** Speech came back after onTurnEager. */
  onTurnResumed?(session: Session): void;
  /** True while interims must be shed to keep finals on time (capacity). */
  shedInterims?(): boolean;
}

/** What happened to interim requests (metrics, benchmarks). */
export interface InterimCounters {
  requested: number;
  emitted: number;
  /** Not requested: the engine had finals waiting, or capacity asked to shed. */
  shed: number;
  /** Replaced in the engine's queue by a newer one of the same stream. */
  superseded: number;
  /** Came back after their utterance had closed. */
  stale: number;
  /** Rejected by the hallucination guards. */
  dropped: number;
}

export type AcquireResult = { ok: true; session: Session } | { ok: false; code: "client_id_in_use" | "max_sessions"; message: string };

interface LiveState {
  options: StreamOptions;
  lastInterimAt: number;
  /** Stream time up to which the newest applied hypothesis reached. */
  appliedEnd: number;
  /** The engine was told this stream's final is coming (expectFinal). */
  finalExpected: boolean;
}

/** Slack on an announced final's due time: VAD frames and chunking land it a little late. */
const FINAL_DUE_SLACK_MS = 400;

/**
 * Sessions keyed by clientId. A clientId's audio belongs to one socket at a
 * time: a second socket sending for it is refused (streams are never
 * interleaved) until the first one disconnects or cleans up.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  /** Each session's results in utterance order (the one ordering layer). */
  private readonly order = new Map<Session, Ordered>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly live = new Map<Session, LiveState>();
  private readonly turnTakers = new Map<Session, TurnTaking>();
  private readonly opts: SessionOptions;
  private timer: ReturnType<typeof setInterval> | null = null;
  utterances = 0;
  /** Chunks whose VAD scoring failed and were counted as silence. */
  vadFailures = 0;
  readonly guardCounters: GuardCounters = newGuardCounters();
  readonly interims: InterimCounters = { requested: 0, emitted: 0, shed: 0, superseded: 0, stale: 0, dropped: 0 };

  constructor(
    private readonly config: Config,
    private readonly vad: SileroVad,
    private readonly engine: SpeechEngine,
    private readonly hooks: ManagerHooks,
    private readonly log: Logger,
    /** Smart Turn, for streams with turn_detection "model" (absent: such streams end turns on silence). */
    private readonly turnDetector?: TurnDetector,
  ) {
    this.opts = sessionOptionsFrom(config);
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

  acquire(clientId: string, socketId: string, options: Partial<StreamOptions> = {}): AcquireResult {
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
    const session: Session = new Session(
      clientId,
      socketId,
      this.vad,
      this.opts,
      {
        onUtterance: (u) => this.dispatch(session, u),
        onVadError: (err) => {
          this.vadFailures++;
          this.log.once(`vad:${clientId}`, "VAD failed; the chunk's frames count as silence (logged once per stream)", { clientId, error: String(err) });
        },
        onSpeechStart: (start) => this.hooks.onSpeechStarted?.(session, start),
        onSpeechProgress: () => {
          this.announceFinal(session);
          this.maybeInterim(session);
        },
      },
      (tokens) => this.engine.textOf(tokens),
    );
    this.sessions.set(clientId, session);
    const effective = { ...this.config.streams, ...options };
    this.live.set(session, { options: effective, lastInterimAt: 0, appliedEnd: 0, finalExpected: false });
    this.applyOptions(session, effective);
    return { ok: true, session };
  }

  /** The effective options of a stream (defaults from config). */
  options(session: Session): StreamOptions {
    return this.live.get(session)?.options ?? { ...this.config.streams };
  }

  /** Changes a live stream's options; returns the effective ones. */
  setOptions(session: Session, options: Partial<StreamOptions>): StreamOptions {
    const state = this.live.get(session);
    if (!state) return { ...this.config.streams, ...options };
    state.options = { ...state.options, ...options };
    this.applyOptions(session, state.options);
    return state.options;
  }

  /** Drops the clientId's open speech untranscribed; interims under way for it become stale. */
  async clear(clientId: string): Promise<void> {
    const session = this.sessions.get(clientId);
    if (!session) return;
    this.withdrawAnnouncement(session);
    await session.clear();
  }

  /** Resolves once every result already chained for the session has been delivered. */
  async settled(session: Session): Promise<void> {
    await session.settled();
    await this.order.get(session)?.settled();
  }

  /** A stream's end-of-turn settings: its own options over the config's `turn` section. */
  turnOf(o: Partial<StreamOptions>): TurnSettings {
    const t = this.config.turn;
    return {
      ...t,
      detection: o.turn_detection ?? t.detection,
      eot_threshold: o.eot_threshold ?? t.eot_threshold,
      eager_eot_threshold: o.eager_eot_threshold !== undefined ? o.eager_eot_threshold : t.eager_eot_threshold,
      eot_timeout: o.eot_timeout ?? t.eot_timeout,
    };
  }

  /** Per-stream segmentation and turn-taking; a null option means the server-wide setting. */
  private applyOptions(session: Session, o: StreamOptions): void {
    const c = this.config;
    const turn = this.turnOf(o);
    const model = turn.detection === "model" && this.turnDetector !== undefined;
    const tuning: SegmenterTuning = {
      threshold: o.vad_threshold ?? c.vad_threshold,
      speechPad: o.speech_pad ?? c.speech_pad,
      manual: o.segmentation === "manual",
      ...segmenterTurnOptions(model ? turn : { ...turn, detection: "silence" }, o.silence_duration ?? c.silence_duration),
    };
    session.tune(tuning);
    const current = this.turnTakers.get(session);
    if (!model) {
      session.useTurns(null);
      this.turnTakers.delete(session);
    } else if (current) current.setPolicy(policyOf(turn));
    else {
      const detector = this.turnDetector!;
      const taker = new TurnTaking(session.clientId, () => detector, policyOf(turn), {
        onEager: (p) => this.hooks.onTurnEager && void this.chain(session, async () => this.hooks.onTurnEager?.(session, p, session.openText)),
        onResumed: () => this.hooks.onTurnResumed && void this.chain(session, async () => this.hooks.onTurnResumed?.(session)),
        endTurn: () => session.endTurn(),
      }, (err) => this.log.once(`turn:${session.clientId}`, "end-of-turn model failed; the turn ends on eot_timeout (logged once per stream)", { clientId: session.clientId, error: String(err) }));
      this.turnTakers.set(session, taker);
      session.useTurns(taker);
    }
  }

  /** Closes the clientId's open utterance now (client `finalize`); false when none was open. */
  async finalize(clientId: string): Promise<boolean> {
    const session = this.sessions.get(clientId);
    return session ? session.finalize() : false;
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
    this.withdrawAnnouncement(session);
    this.live.delete(session);
    this.turnTakers.delete(session);
    this.log.forget(`vad:${clientId}`);
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
      // A manual stream waits for its finalize however long the pause.
      if (s.inSpeech && now - s.lastAudioAt >= this.config.stall_timeout * 1000 && this.options(s).segmentation !== "manual") void s.flush("stall");
    }
  }

  /**
   * Utterances go to the engine at once (so they can be batched with other
   * clients'), but results are delivered in utterance order per session.
   */
  private dispatch(session: Session, u: Utterance): void {
    this.utterances++;
    // An interim still waiting for this audio would be answered after its final.
    this.engine.withdrawInterim?.(session.clientId);
    // Submitting the final ends its announcement in the engine.
    const state = this.live.get(session);
    if (state) state.finalExpected = false;
    const options = this.options(session);
    this.hooks.onSpeechStopped && void this.chain(session, async () => this.hooks.onSpeechStopped?.(session, u));
    const result = transcribeGuarded(
      this.engine,
      { audio: u.audio, language: options.language ?? this.config.language, prompt: streamPrompt(options), streamKey: u.clientId, prefix: u.prefix, wordTimestamps: options.word_timestamps },
      this.config.guards,
      this.guardCounters,
    );
    result.catch(() => {}); // handled below, in order
    void this.chain(session, () =>
      result.then(
        (g) => this.hooks.onResult(session, u, g.ok ? g.result : null),
        (err: Error & { code?: string }) => {
          const code = err.code === "queue_full" ? "queue_full" : "engine_error";
          this.log.error("utterance not transcribed", { clientId: u.clientId, code, error: err.message });
          this.hooks.onError(session, code, `utterance ${u.start.toFixed(2)}-${u.end.toFixed(2)}s not transcribed: ${err.message}`);
        },
      ),
    );
  }

  /**
   * Tells the engine, while the VAD counts a stream's trailing silence, that
   * its final is due when silence_duration is reached, so no interim takes
   * the executor it will need. Only where silence ends the utterance: in turn
   * mode Smart Turn decides, and manual segmentation waits for finalize.
   */
  private announceFinal(session: Session): void {
    const state = this.live.get(session);
    if (!state || !this.engine.expectFinal) return;
    const o = state.options;
    const silence = session.trailingSilenceSeconds;
    const due = silence > 0 && o.segmentation !== "manual" && this.turnOf(o).detection !== "model";
    if (due) {
      const remaining = Math.max(0, (o.silence_duration ?? this.config.silence_duration) - silence);
      this.engine.expectFinal(session.clientId, remaining * 1000 + FINAL_DUE_SLACK_MS);
    } else if (state.finalExpected) this.engine.expectFinal(session.clientId, 0);
    state.finalExpected = due;
  }

  private withdrawAnnouncement(session: Session): void {
    const state = this.live.get(session);
    if (state?.finalExpected) this.engine.expectFinal?.(session.clientId, 0);
    if (state) state.finalExpected = false;
  }

  /**
   * Asks the engine for a hypothesis of the open utterance, at most every
   * interim_interval per stream, and never while finals wait for the engine:
   * interims are the first thing shed.
   */
  private maybeInterim(session: Session): void {
    const state = this.live.get(session);
    if (!state?.options.interim_results) return;
    const now = performance.now();
    const interval = state.options.interim_interval;
    if (now - state.lastInterimAt < interval * 1000) return;
    if (session.openSeconds < interval) return;
    // Once the speaker has stopped, the final is at most silence_duration away
    // and says more; an interim now would only hold an executor it may need.
    // Turn mode keeps them: a pause there is not the end, and turn_eager wants
    // the newest hypothesis.
    if (session.trailingSilenceSeconds > 0 && this.turnOf(state.options).detection !== "model") {
      this.engine.withdrawInterim?.(session.clientId);
      return;
    }
    state.lastInterimAt = now;
    // Decided before the open audio is copied: under load this runs for every
    // stream each interval and mostly sheds.
    if ((this.engine.waitingFinals?.() ?? 0) > 0 || this.hooks.shedInterims?.()) {
      this.interims.shed++;
      return;
    }
    const open = session.openUtterance()!;
    this.interims.requested++;
    // The same prompt as the final's, so the committed prefix and the keyterms are both kept.
    // Word timestamps give the aligned token ends the commit rule needs (agreement.ts).
    const request = { audio: open.audio, language: state.options.language ?? this.config.language, prompt: streamPrompt(state.options), streamKey: session.clientId, prefix: open.agreement.committed, priority: "interim" as const, wordTimestamps: true };
    this.engine.transcribe(request).then(
      (r) => {
        if (session.currentUtteranceId !== open.id || !session.inSpeech) return void this.interims.stale++;
        // Stricter than for finals: an interim may commit words for good, so a
        // hypothesis Whisper itself is unsure of (avg_logprob below the guard's
        // threshold, e.g. "s s s" on the first half-second of a word) is not used.
        if (judge(r, this.config.guards) || r.avgLogprob < this.config.guards.log_prob_threshold) return void this.interims.dropped++;
        if (open.end <= state.appliedEnd) return void this.interims.stale++;
        state.appliedEnd = open.end;
        const h = open.agreement.update(r.tokens, r.tokenEnds && r.tokenProbs ? { ends: r.tokenEnds, probs: r.tokenProbs, edge: open.end - open.start } : undefined);
        // In line with the stream's finals, so `seq` is the one this utterance's final will carry.
        void this.chain(session, async () => {
          this.interims.emitted++;
          this.hooks.onInterim?.(session, open, h);
        });
      },
      (err: Error & { code?: string }) => {
        if (err.code === "superseded") this.interims.superseded++;
        else this.log.once(`interim:${err.code}`, "interim hypothesis failed", { clientId: session.clientId, error: err.message });
      },
    );
  }

  /** Runs `step` after everything already chained for the session; tracked for drain(). */
  private chain(session: Session, step: () => Promise<void>): Promise<void> {
    let order = this.order.get(session);
    if (!order) this.order.set(session, (order = new Ordered((err) => this.log.error("delivery step failed", { clientId: session.clientId, error: String(err) }))));
    const done: Promise<void> = order.then(step).finally(() => {
      this.inflight.delete(done);
      if (order.size === 0 && this.order.get(session) === order) this.order.delete(session);
    });
    this.inflight.add(done);
    return done;
  }
}

/**
 * The stream's prompt: its own text, then its keyterms (last, so Whisper's
 * prompt budget, which keeps the end, keeps them). undefined: the config's
 * initial_prompt. It only ever conditions utterances the VAD called speech.
 */
export function streamPrompt(o: Pick<StreamOptions, "prompt" | "keyterms">): string | null | undefined {
  const terms = o.keyterms && o.keyterms.length > 0 ? o.keyterms.join(", ") + "." : "";
  if (o.prompt == null && !terms) return undefined;
  return [o.prompt ?? "", terms].filter((x) => x.trim()).join(" ") || null;
}
