import type { Capacity } from "../capacity/capacity.ts";
import type { Config } from "../config/schema.ts";
import type { Delivery } from "../delivery/delivery.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import type { Session } from "../session/session.ts";
import { ClientIdOwners } from "./owners.ts";
import { turnSettingsError } from "../turns/settings.ts";
import type { LiveStream, OpenRefusal, OpenResult, StreamCore, StreamOptions, StreamRequest } from "./types.ts";

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
}

/**
 * One place that owns a live stream from its first audio to its last result:
 * who owns the clientId (and may resume it), admission, the session and its
 * options, and where results go. Doors call it; it never sees a wire format.
 */
export function createStreamCore(d: StreamCoreDeps): StreamHub {
  const owners = new ClientIdOwners();
  const { sessions, delivery, capacity, config } = d;
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
      if (session.push(samples)) return { ok: true };
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
      const taken = owners.take(clientId, { socketId: connectionId, resumeKey: req.resumeKey, token: req.token, scoped: !!req.scoped });
      if (!taken.ok) {
        return { ok: false, code: "client_id_in_use", message: `clientId "${clientId}" belongs to another connection while it is connected; use another clientId` };
      }
      if (taken.previousOwner) {
        // The sender came back on a new connection before the old one was noticed
        // gone: the old session ends (its speech is still delivered) and the stream goes on here.
        d.log.info("sender resumed its clientId on a new connection", { clientId, connection: connectionId, door: req.door });
        const previous = delivery.listenerOf(clientId);
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
      session = got.session;
      if (req.listener) delivery.attach(clientId, req.listener);
      return { ok: true, stream: handle(session, connectionId), resumeKey: taken.resumeKey, fresh: taken.fresh, previousOwner: taken.previousOwner };
    },

    streamOf(clientId, connectionId) {
      const session = sessions.get(clientId);
      return session && session.ownerSocketId === connectionId && owners.ownerOf(clientId) === connectionId ? handle(session, connectionId) : undefined;
    },

    end: (clientId) => sessions.release(clientId),

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
