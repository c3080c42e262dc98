import type { Capacity } from "../capacity/capacity.ts";
import type { Config } from "../config/schema.ts";
import type { Delivery } from "../delivery/delivery.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import type { Session } from "../session/session.ts";
import { ClientIdOwners, type SharedClaims } from "./owners.ts";
import { StreamClocks, type StreamClock } from "./clock.ts";
import { turnSettingsError } from "../turns/settings.ts";
import type { LiveStream, OpenRefusal, OpenResult, PushResult, StreamCore, StreamOptions, StreamRequest } from "./types.ts";

export interface StreamCoreDeps {
  config: Config;
  sessions: SessionManager;
  capacity: Capacity;
  delivery: Delivery;
  engine: SpeechEngine;
  log: Logger;
  isStopping(): boolean;
  /** Whether the end-of-turn model can be loaded (turn_detection "model"). */
  turnModel?: { readonly available: boolean };
  /** Each session's place on its stream's clock and its durable audio. */
  clocks?: StreamClocks;
  /** With redis_url: the cluster-wide claims, and the seq another node counted for a stream arriving here. */
  shared?: { claims: SharedClaims; loadSeq(clientId: string): Promise<void> };
}

/** Limits of a stream's vocabulary (the schema says the same for the Socket.IO door). */
export const MAX_KEYTERMS = 50;
export const MAX_KEYTERM_LENGTH = 64;
export const MAX_PROMPT_LENGTH = 1000;

/** The core as the Socket.IO door also sees it: ownership questions and ending streams by clientId. */
export interface StreamHub extends StreamCore {
  readonly owners: ClientIdOwners;
  /** The live stream `connectionId` owns for `clientId`, if its session still exists. */
  streamOf(clientId: string, connectionId: string): LiveStream | undefined;
  /** Ends the clientId's session (open speech still delivered); the owner keeps its claim. */
  end(clientId: string): Promise<boolean>;
  /** The owner gives the clientId up: its session ends and anyone may claim it. */
  release(clientId: string, connectionId: string): Promise<void>;
  /** A connection closed: every stream it owned ends, every claim is freed. */
  releaseConnection(connectionId: string): Promise<void>;
  /** Where a stream's errors go: its owner now. */
  ownerOf(clientId: string): string | undefined;
  /**
   * Shutdown: streams whose senders keep unacknowledged audio (audio_ack) drop
   * their open speech and new audio, since the sender replays it on another
   * node; their closed utterances are still delivered.
   */
  handOff(): Promise<void>;
}

/**
 * One place that owns a live stream from its first audio to its last result:
 * who owns the clientId (and may resume it), admission, the session and its
 * options, and where results go. Doors call it; it never sees a wire format.
 */
/** Seconds kept unacknowledged behind the idle position, beyond speech_pad: a speech onset the VAD has not confirmed yet. */
const IDLE_ACK_MARGIN = 0.5;

export function createStreamCore(d: StreamCoreDeps): StreamHub {
  const owners = new ClientIdOwners(d.shared?.claims);
  const { sessions, delivery, capacity, config } = d;
  const clocks = d.clocks ?? new StreamClocks();
  const multilingual = () => d.engine.info.multilingual;

  const checkOptions = (o: Partial<StreamOptions>): string | null => {
    if (o.language != null && !multilingual() && o.language !== "en") {
      return `language "${o.language}": the model (${config.model_path}) is English-only; use "en" or a multilingual model`;
    }
    if (o.language != null && !/^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(o.language)) return `language "${o.language}" is not an ISO 639-1 code such as "en" or "de"`;
    if (o.keyterms && o.keyterms.length > MAX_KEYTERMS) return `keyterms: at most ${MAX_KEYTERMS} terms (got ${o.keyterms.length})`;
    const long = o.keyterms?.find((t) => t.length === 0 || t.length > MAX_KEYTERM_LENGTH);
    if (long !== undefined) return `keyterms: each term must be 1-${MAX_KEYTERM_LENGTH} characters ("${long.slice(0, 80)}" is not)`;
    if (o.prompt != null && o.prompt.length > MAX_PROMPT_LENGTH) return `prompt: at most ${MAX_PROMPT_LENGTH} characters (got ${o.prompt.length})`;
    const turn = sessions.turnOf(o);
    if (turn.detection === "model" && !d.turnModel?.available) {
      return `turn_detection "model" needs the Smart Turn model at ${config.turn.model_path} (bash scripts/fetch-smart-turn.sh installs it)`;
    }
    return turnSettingsError(turn);
  };

  const handle = (session: Session, connectionId: string): LiveStream => ({
    clientId: session.clientId,
    connectionId,
    get options() {
      return sessions.options(session);
    },
    get audioSeconds() {
      return session.buffer.end / config.sample_rate;
    },
    push(samples) {
      const clock = clocks.of(session);
      // Dropped unacknowledged: the sender replays it on the node it moves to.
      if (clock?.handingOff) return { ok: true };
      if (clock?.warmup) return warmUp(session, clock.warmup, samples);
      if (session.push(samples)) {
        if (clocks.idleDue(session, session.buffer.end / config.sample_rate)) void idleCheck(session);
        return { ok: true };
      }
      return {
        ok: false,
        code: "buffer_full",
        message: `session holds ${session.bufferedSeconds.toFixed(1)} s of audio, limit max_buffered_seconds is ${config.limits.max_buffered_seconds}`,
      };
    },
    finalize: () => sessions.finalize(session.clientId),
    clear: () => sessions.clear(session.clientId),
    setOptions: (o) => sessions.setOptions(session, o),
    settled: () => sessions.settled(session),
    close: () => hub.release(session.clientId, connectionId),
  });

  /** Acknowledges audio the stream idled through in silence (src/stream/clock.ts). */
  const idleCheck = async (session: Session) => {
    const scored = session.buffer.end / config.sample_rate;
    const utterance = session.currentUtteranceId;
    await sessions.settled(session);
    // An utterance closed meanwhile may reach back before `scored`: the next check decides.
    if (session.currentUtteranceId !== utterance) return;
    const pad = sessions.options(session).speech_pad ?? config.speech_pad;
    clocks.idle(session, scored, session.inSpeech, pad + IDLE_ACK_MARGIN);
  };

  /** A resumed stream's pre-roll: scored, its open speech discarded, and only then the audio behind it (src/stream/clock.ts). */
  const warmUp = (session: Session, w: NonNullable<StreamClock["warmup"]>, samples: Float32Array): PushResult => {
    if (w.left > 0) {
      const head = samples.subarray(0, w.left);
      w.left -= head.length;
      session.push(head);
      samples = samples.subarray(head.length);
      if (w.left === 0) {
        w.discarding = true;
        void sessions.clear(session.clientId).then(() => {
          clocks.of(session)!.warmup = null;
          for (const h of w.held) session.push(h);
        });
      }
    }
    if (samples.length > 0) w.held.push(samples.slice());
    return { ok: true };
  };

  const hub: StreamHub = {
    owners,
    checkOptions,
    stopping: () => d.isStopping(),
    ownerOf: (clientId) => owners.ownerOf(clientId),

    wouldAdmit(): OpenRefusal | null {
      if (d.isStopping()) return { ok: false, code: "shutting_down", message: "the server is shutting down and takes no new streams" };
      const snap = capacity.ready();
      if (snap.ready) return null;
      return { ok: false, code: "server_busy", message: `server_busy: ${snap.reason ?? "at capacity"}`, retryAfterMs: 1000 };
    },

    async open(req: StreamRequest): Promise<OpenResult> {
      const { clientId, connectionId } = req;
      if (d.isStopping()) return { ok: false, code: "shutting_down", message: "the server is shutting down and takes no new streams" };
      if (!req.grant.allows(clientId, "send")) return { ok: false, code: "forbidden", message: `not allowed to send audio for "${clientId}"` };
      const bad = req.options ? checkOptions(req.options) : null;
      if (bad) return { ok: false, code: "invalid_payload", message: bad };
      if (owners.ownerOf(clientId) !== connectionId && owners.countFor(connectionId) >= config.limits.max_sessions_per_socket) {
        return { ok: false, code: "max_sessions", message: `this connection streams ${config.limits.max_sessions_per_socket} clientIds already (max_sessions_per_socket)` };
      }
      const taken = await owners.take(clientId, { socketId: connectionId, resumeKey: req.resumeKey, token: req.token, scoped: !!req.scoped });
      if (!taken.ok) {
        return { ok: false, code: "client_id_in_use", message: `clientId "${clientId}" belongs to another connection while it is connected; use another clientId` };
      }
      if (taken.previousOwner) {
        // The sender came back on a new connection before the old one was noticed
        // gone: the old session ends (its speech is still delivered) and the stream goes on here.
        d.log.info("sender resumed its clientId on a new connection", { clientId, connection: connectionId, door: req.door });
        const previous = delivery.listenerOf(clientId);
        const old = sessions.get(clientId);
        const oldClock = old && clocks.of(old);
        if (oldClock && req.resumeFrom !== undefined) {
          // The sender replays from its last acknowledgement: the old session's undelivered results would come twice.
          oldClock.superseded = true;
          await sessions.clear(clientId);
        }
        await sessions.release(clientId);
        if (previous) {
          delivery.detach(clientId, previous);
          previous.error("stream_taken_over", `clientId "${clientId}" was resumed on another connection`);
        }
      }
      // A stream this connection already owns (its session was cleaned up by
      // someone else or reaped) was admitted before: it is not asked again.
      const admitted = !taken.fresh || taken.previousOwner !== undefined;
      let session = sessions.get(clientId);
      if (!session && !admitted) {
        const busy = capacity.admit(clientId, connectionId);
        if (busy) {
          owners.release(clientId, connectionId);
          return { ok: false, code: "server_busy", message: busy.message, retryAfterMs: busy.retryAfterMs, notify: busy.notify };
        }
      }
      const got = sessions.acquire(clientId, connectionId, req.options);
      if (!got.ok) {
        if (taken.fresh && !taken.previousOwner) owners.release(clientId, connectionId);
        return { ok: false, code: got.code, message: got.message };
      }
      if (got.session !== session) clocks.start(got.session, req.resumeFrom ?? 0, req.onAudioAck, req.resumeFrom !== undefined ? (req.preroll ?? 0) : 0, config.sample_rate);
      // A stream new to this node continues the seq another node counted.
      if (taken.fresh && d.shared) await d.shared.loadSeq(clientId);
      session = got.session;
      if (req.listener) delivery.attach(clientId, req.listener);
      return { ok: true, stream: handle(session, connectionId), resumeKey: taken.resumeKey, fresh: taken.fresh, previousOwner: taken.previousOwner };
    },

    streamOf(clientId, connectionId) {
      const session = sessions.get(clientId);
      return session && session.ownerSocketId === connectionId && owners.ownerOf(clientId) === connectionId ? handle(session, connectionId) : undefined;
    },

    end: (clientId) => sessions.release(clientId),

    async handOff() {
      const moving = [...sessions.all()].filter((s) => clocks.of(s)?.ack);
      for (const s of moving) clocks.of(s)!.handingOff = true;
      await Promise.all(moving.map((s) => sessions.clear(s.clientId)));
    },

    async release(clientId, connectionId) {
      if (owners.ownerOf(clientId) !== connectionId) return;
      owners.release(clientId, connectionId);
      const session = sessions.get(clientId);
      if (session?.ownerSocketId === connectionId) {
        await sessions.release(clientId);
        // The closing utterance's final still goes to this connection's listener.
        await sessions.settled(session);
      }
      delivery.detach(clientId);
    },

    async releaseConnection(connectionId) {
      const ids = owners.releaseConnection(connectionId);
      const owned = new Set([...ids, ...sessions.ownedBy(connectionId)]);
      await Promise.all([...owned].map(async (id) => {
        const session = sessions.get(id);
        if (session?.ownerSocketId === connectionId) {
          await sessions.release(id);
          await sessions.settled(session);
        }
        if (!owners.ownerOf(id)) delivery.detach(id);
      }));
    },
  };
  return hub;
}
