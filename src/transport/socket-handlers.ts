import type { Server, Socket } from "socket.io";
import { Value } from "@sinclair/typebox/value";
import type { TSchema, Static } from "@sinclair/typebox";
import { decodePcm16, isBinary } from "../audio/pcm.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import {
  AudioDataPayload,
  ClientIdPayload,
  HandshakeStreamOptions,
  StreamOptionsPayload,
  SubscribePayload,
  type CleanupConfirmedPayload,
  type ErrorCode,
} from "./schemas.ts";
import { rooms } from "./rooms.ts";
import type { StreamOptions } from "../session/manager.ts";
import { AUTH_MESSAGES, handshakeToken, type TokenAuth } from "../auth/tokens.ts";
import type { Refusal } from "../capacity/capacity.ts";
import { FULL_ACCESS, type Action, type Grant } from "../auth/access.ts";
import { ClientIdClaims } from "./claims.ts";
import type { PeerAddresses } from "./peers.ts";

/** Codes added by the operations layer, on top of the protocol's ErrorCode. */
export type TransportErrorCode = ErrorCode | "unknown_event" | "shutting_down";

/** Reasons a connection is refused (the client's connect_error message starts with the reason). */
export type RefusalReason = "missing_token" | "invalid_token" | "max_connections" | "max_connections_per_ip" | "shutting_down";

/** Names a client must not be able to trigger on the server socket. */
const RESERVED_EVENTS = new Set(["connect", "connect_error", "connection", "disconnect", "disconnecting", "error", "newListener", "removeListener"]);

/** Decides whether a socket may send audio for, or subscribe to, a clientId. */
export type AuthorizeClientId = (socket: Socket, clientId: string, action: "send" | "subscribe") => boolean | Promise<boolean>;

export interface TransportCounters {
  errors: Map<string, number>;
  audioSeconds: number;
  refusedPayloads: number;
}

export interface TransportDeps {
  io: Server;
  config: Config;
  sessions: SessionManager;
  log: Logger;
  counters: TransportCounters;
  authorize?: AuthorizeClientId;
  /** Shared tokens; absent or empty = open. */
  auth?: TokenAuth;
  /** True once shutdown began: new connections and new sessions are refused. */
  isStopping?: () => boolean;
  /** Told about every refused connection (metrics). */
  onRefused?: (reason: RefusalReason) => void;
  /** Admission control at a new stream's first audio: null admits it. */
  admit?: (clientId: string, socketId: string) => Refusal | null;
  /** Client addresses for limits.max_connections_per_ip; without it that limit is not applied. */
  peers?: PeerAddresses;
}

/**
 * Socket events → session calls. Every payload is validated here; a bad one
 * gets an `error` event back to its sender and touches nothing else.
 */
export function bindSocketHandlers(deps: TransportDeps): void {
  const { io, config, sessions, log, counters } = deps;
  const limits = config.limits;
  const maxChunkSamples = Math.round(limits.max_chunk_seconds * config.sample_rate);
  const claims = new ClientIdClaims();

  // Connection gate: shutdown, then credentials, then the connection limit.
  // A refusal reaches the client as connect_error with `message` (and `data.code`).
  io.use((socket, next) => {
    const refuse = (reason: RefusalReason, message: string) => {
      deps.onRefused?.(reason);
      const err = new Error(message) as Error & { data?: unknown };
      err.data = { code: reason, message };
      next(err);
      // Do not let a refused client hold its transport open until connectTimeout.
      setTimeout(() => {
        if (socket.client.conn.readyState === "open" && !io.of("/").sockets.has(socket.id)) socket.client.conn.close();
      }, 1000).unref?.();
    };
    if (deps.isStopping?.()) return refuse("shutting_down", "shutting_down: the server is shutting down; connect to another node");
    if (deps.auth?.enabled) {
      const token = handshakeToken(socket.handshake as never);
      const bad = deps.auth.check(token);
      if (bad) return refuse(bad, AUTH_MESSAGES[bad]);
      socket.data.token = token;
      socket.data.grant = deps.auth.grantFor(token);
    }
    if (io.of("/").sockets.size >= limits.max_connections) {
      return refuse("max_connections", `max_connections: this node is at max_connections (${limits.max_connections}); try again later`);
    }
    const address = deps.peers?.addressOf(socket.client.conn);
    if (address !== undefined && deps.peers!.connections(address) >= limits.max_connections_per_ip) {
      return refuse("max_connections_per_ip", `max_connections_per_ip: ${limits.max_connections_per_ip} connections from this address already; close some first`);
    }
    if (address !== undefined) {
      deps.peers!.add(address);
      socket.data.address = address;
    }
    next();
  });

  io.on("connection", (socket) => {
    const bucket = new TokenBucket(limits.max_events_per_second, limits.max_events_per_second * 2);
    const fail = (event: string, code: TransportErrorCode, message: string, extra?: { retry_after_ms: number }) => {
      counters.errors.set(code, (counters.errors.get(code) ?? 0) + 1);
      socket.emit("error", { event, code, message, ...extra });
      log.once(`${socket.id}:${code}`, `refused ${event} from socket: ${message}`, { socket: socket.id, code });
    };
    const grant: Grant = socket.data.grant ?? FULL_ACCESS;
    // The token's scope first, then the embedder's hook (which knows cleanup as "send").
    const allowed = async (clientId: string, action: Action) =>
      grant.allows(clientId, action) && (deps.authorize ? await deps.authorize(socket, clientId, action === "cleanup" ? "send" : action) : true);

    socket.emit("connection_status", { status: "connected" });

    // Live-result options: from the handshake (whole socket), then per clientId
    // through stream_options. Unknown handshake keys are ignored (old clients
    // may send anything there); a bad value is reported and ignored.
    const socketOptions: Partial<StreamOptions> = {};
    const { token: _token, ...handshakeOptions } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const picked = Object.fromEntries(Object.entries(handshakeOptions).filter(([k]) => k in HandshakeStreamOptions.properties));
    if (Value.Check(HandshakeStreamOptions, picked)) Object.assign(socketOptions, picked);
    else fail("connect", "invalid_payload", describeInvalid(HandshakeStreamOptions, picked, "stream options in the handshake auth"));
    const clientOptions = new Map<string, Partial<StreamOptions>>();
    const wantsResumeKey = handshakeOptions.resumable === true || typeof handshakeOptions.resumeKey === "string";
    const joinLiveRooms = async (clientId: string, o: Pick<StreamOptions, "interim_results" | "vad_events">) => {
      await (o.interim_results ? socket.join(rooms.interims(clientId)) : socket.leave(rooms.interims(clientId)));
      await (o.vad_events ? socket.join(rooms.vadEvents(clientId)) : socket.leave(rooms.vadEvents(clientId)));
    };

    // Every event passes the rate limit first, so a flood costs O(1) per event.
    socket.use(([event], next) => {
      if (!bucket.take()) {
        counters.refusedPayloads++;
        return fail(String(event), "rate_limited", `more than ${limits.max_events_per_second} events/s (max_events_per_second)`);
      }
      // An event nobody handles gets an answer too, and reserved names can
      // never reach the server's own listeners.
      if (typeof event !== "string" || RESERVED_EVENTS.has(event) || socket.listeners(event as never).length === 0) {
        return fail(String(event).slice(0, 64), "unknown_event", `unknown event "${String(event).slice(0, 64)}"`);
      }
      next();
    });

    // Chunks are handled strictly in arrival order, even when one of them has
    // to wait for the authorize hook before its session exists.
    let audioChain: Promise<void> = Promise.resolve();
    socket.on("audio_data", (payload: unknown) => {
      audioChain = audioChain.then(() => onAudio(payload)).catch((err) => log.error("audio_data handler failed", { error: String(err) }));
    });

    const onAudio = async (payload: unknown): Promise<void> => {
      let clientId: string;
      let audio: unknown;
      if (isBinary(payload)) {
        clientId = "client-" + socket.id.slice(0, 8);
        audio = payload;
      } else if (Value.Check(AudioDataPayload, payload)) {
        clientId = payload.clientId;
        audio = payload.audioData;
      } else {
        return fail("audio_data", "invalid_payload", describeInvalid(AudioDataPayload, payload, "{clientId: string, audioData: binary PCM16} or binary PCM16"));
      }
      if (isBinary(audio) && audio.byteLength > limits.max_payload_bytes) {
        counters.refusedPayloads++;
        return fail("audio_data", "payload_too_large", `audio chunk of ${audio.byteLength} bytes exceeds max_payload_bytes (${limits.max_payload_bytes})`);
      }
      const pcm = decodePcm16(audio, maxChunkSamples);
      if (!pcm.ok) {
        counters.refusedPayloads++;
        const limit = pcm.code === "chunk_too_long" ? ` (max_chunk_seconds is ${limits.max_chunk_seconds})` : "";
        return fail("audio_data", pcm.code as ErrorCode, pcm.message + limit);
      }
      let session = sessions.get(clientId);
      if (!session || session.ownerSocketId !== socket.id) {
        if (deps.isStopping?.()) return fail("audio_data", "shutting_down", "the server is shutting down and takes no new streams");
        if (!(await allowed(clientId, "send"))) return fail("audio_data", "forbidden", `not allowed to send audio for "${clientId}"`);
        const started = await claimClientId(clientId);
        if (!started) return;
        // A stream refused here must not keep the clientId it just claimed.
        const unclaim = () => started.fresh && !started.previousOwner && claims.release(clientId, socket.id);
        // Refused audio is dropped, not queued; later chunks of a refused stream are dropped quietly until retry_after_ms.
        const busy = session ? null : deps.admit?.(clientId, socket.id);
        if (busy) {
          unclaim();
          return busy.notify ? fail("audio_data", "server_busy", busy.message, { retry_after_ms: busy.retryAfterMs }) : undefined;
        }
        const got = sessions.acquire(clientId, socket.id, { ...socketOptions, ...clientOptions.get(clientId) });
        if (!got.ok) {
          unclaim();
          return fail("audio_data", got.code, got.message);
        }
        session = got.session;
        void socket.join(rooms.transcripts(clientId));
        await joinLiveRooms(clientId, sessions.options(session));
        // Opt-in: clients of the original server must see no new event type.
        if (started.fresh && wantsResumeKey) socket.emit("stream_started", { clientId, resumeKey: started.resumeKey });
      }
      if (!session.push(pcm.samples)) {
        counters.refusedPayloads++;
        return fail("audio_data", "buffer_full", `session holds ${session.bufferedSeconds.toFixed(1)} s of audio, limit max_buffered_seconds is ${limits.max_buffered_seconds}`);
      }
      counters.audioSeconds += pcm.samples.length / config.sample_rate;
    };

    /** Makes this socket the clientId's sender (see claims.ts); answers the sender itself when it cannot. */
    const claimClientId = async (clientId: string) => {
      if (claims.ownerOf(clientId) !== socket.id && claims.countFor(socket.id) >= limits.max_sessions_per_socket) {
        fail("audio_data", "max_sessions", `this connection streams ${limits.max_sessions_per_socket} clientIds already (max_sessions_per_socket)`);
        return null;
      }
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      const taken = claims.take(clientId, {
        socketId: socket.id,
        resumeKey: typeof auth?.resumeKey === "string" ? auth.resumeKey : undefined,
        token: socket.data.token,
        scoped: !grant.all,
      });
      if (!taken.ok) {
        fail("audio_data", "client_id_in_use", `clientId "${clientId}" belongs to another connection while it is connected; use another clientId`);
        return null;
      }
      if (taken.previousOwner) {
        // The sender came back on a new connection before the old one timed out:
        // the old session ends (its speech is still delivered) and the stream goes on here.
        log.info("sender resumed its clientId on a new connection", { clientId, socket: socket.id });
        io.in(taken.previousOwner).socketsLeave([rooms.transcripts(clientId), rooms.interims(clientId), rooms.vadEvents(clientId)]);
        await sessions.release(clientId);
      }
      return taken;
    };

    socket.on("stream_options", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      if (!Value.Check(StreamOptionsPayload, payload)) {
        fail("stream_options", "invalid_payload", describeInvalid(StreamOptionsPayload, payload, "{clientId, interim_results?, word_timestamps?, interim_interval?, vad_events?}"));
        return reply?.({ ok: false, code: "invalid_payload" });
      }
      const { clientId, ...options } = payload;
      const session = sessions.get(clientId);
      if (session && session.ownerSocketId !== socket.id) {
        fail("stream_options", "client_id_in_use", `clientId "${clientId}" is streaming from another connection`);
        return reply?.({ ok: false, code: "client_id_in_use" });
      }
      clientOptions.set(clientId, { ...clientOptions.get(clientId), ...options });
      const effective = session ? sessions.setOptions(session, options) : { ...config.streams, ...socketOptions, ...clientOptions.get(clientId) };
      if (session) await joinLiveRooms(clientId, effective);
      reply?.({ ok: true, clientId, options: effective });
    });

    socket.on("finalize", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      if (!Value.Check(ClientIdPayload, payload)) {
        fail("finalize", "invalid_payload", describeInvalid(ClientIdPayload, payload, "{clientId: string}"));
        return reply?.({ ok: false, code: "invalid_payload" });
      }
      const session = sessions.get(payload.clientId);
      if (session && session.ownerSocketId !== socket.id) {
        fail("finalize", "forbidden", `only the socket streaming "${payload.clientId}" may finalize it`);
        return reply?.({ ok: false, code: "forbidden" });
      }
      // Wait for chunks of this socket still on their way into the session.
      await audioChain;
      const finalized = await sessions.finalize(payload.clientId);
      reply?.({ ok: true, clientId: payload.clientId, finalized });
    });

    socket.on("subscribe_transcripts", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      if (!Value.Check(SubscribePayload, payload)) {
        fail("subscribe_transcripts", "invalid_payload", describeInvalid(SubscribePayload, payload, "{clientId: string, interim_results?: boolean, vad_events?: boolean}"));
        return reply?.({ ok: false, code: "invalid_payload" });
      }
      const { clientId } = payload;
      if (!(await allowed(clientId, "subscribe"))) {
        fail("subscribe_transcripts", "forbidden", `not allowed to subscribe to "${clientId}"`);
        return reply?.({ ok: false, code: "forbidden" });
      }
      const room = io.sockets.adapter.rooms.get(rooms.transcripts(clientId));
      if (!room?.has(socket.id) && (room?.size ?? 0) >= limits.max_subscribers_per_room) {
        fail("subscribe_transcripts", "max_subscribers", `room "${clientId}" is at max_subscribers_per_room (${limits.max_subscribers_per_room})`);
        return reply?.({ ok: false, code: "max_subscribers" });
      }
      await socket.join(rooms.transcripts(clientId));
      await joinLiveRooms(clientId, { interim_results: !!payload.interim_results, vad_events: !!payload.vad_events });
      reply?.({ ok: true, clientId });
    });

    socket.on("unsubscribe_transcripts", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      if (!Value.Check(ClientIdPayload, payload)) {
        fail("unsubscribe_transcripts", "invalid_payload", describeInvalid(ClientIdPayload, payload, "{clientId: string}"));
        return reply?.({ ok: false, code: "invalid_payload" });
      }
      // The audio sender stays in its own room: it must keep receiving its transcripts.
      if (claims.ownerOf(payload.clientId) !== socket.id) {
        await socket.leave(rooms.transcripts(payload.clientId));
        await joinLiveRooms(payload.clientId, { interim_results: false, vad_events: false });
      }
      reply?.({ ok: true, clientId: payload.clientId });
    });

    const dropClient = async (event: string, payload: unknown): Promise<string[] | null> => {
      if (!Value.Check(ClientIdPayload, payload)) {
        fail(event, "invalid_payload", describeInvalid(ClientIdPayload, payload, "{clientId: string}"));
        return null;
      }
      const { clientId } = payload;
      const session = sessions.get(clientId);
      const mine = claims.ownerOf(clientId) === socket.id;
      // A sender may always end its own stream; anyone else needs the cleanup right
      // (the hook is asked only when there is someone else's session to end, as before).
      if (!mine && (!grant.allows(clientId, "cleanup") || (session && !(await allowed(clientId, "cleanup"))))) {
        fail(event, "forbidden", `not allowed to clean up "${clientId}"`);
        return null;
      }
      // Only the sender's own cleanup frees the clientId; someone else's just ends the session.
      if (mine) claims.release(clientId, socket.id);
      return (await sessions.release(clientId)) ? [clientId] : [];
    };

    socket.on("cleanup_client", async (payload: unknown) => {
      const cleaned = await dropClient("cleanup_client", payload);
      if (cleaned === null) return;
      const reply: CleanupConfirmedPayload = {
        clientId: (payload as { clientId: string }).clientId,
        cleanedSessions: cleaned,
        timestamp: Date.now() / 1000,
      };
      socket.emit("cleanup_confirmed", reply);
    });

    socket.on("client_disconnected", async (payload: unknown) => {
      await dropClient("client_disconnected", payload);
    });

    socket.on("disconnect", async () => {
      log.forget(`${socket.id}:`);
      if (socket.data.address !== undefined) deps.peers?.remove(socket.data.address);
      claims.releaseSocket(socket.id);
      await Promise.all(sessions.ownedBy(socket.id).map((id) => sessions.release(id)));
    });
  });
}

function describeInvalid(schema: TSchema, payload: unknown, expected: string): string {
  const first = Value.Errors(schema, payload).First();
  const where = first?.path ? ` at ${first.path}: ${first.message}` : "";
  return `expected ${expected}${where}`;
}

/** Per-socket event budget: `rate` per second, bursts up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type { Static };
