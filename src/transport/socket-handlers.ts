import type { Server, Socket } from "socket.io";
import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { decodePcm16, isBinary } from "../audio/pcm.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { AudioDataPayload, ClientIdPayload, HandshakeStreamOptions, StreamOptionsPayload, SubscribePayload, type CleanupConfirmedPayload, type ErrorCode } from "./schemas.ts";
import { rooms } from "./rooms.ts";
import type { TokenAuth } from "../auth/tokens.ts";
import { FULL_ACCESS, type Action, type Grant } from "../auth/access.ts";
import type { PeerAddresses } from "./peers.ts";
import type { StreamHub } from "../stream/core.ts";
import type { DoorEvents, LiveStream, StreamOptions } from "../stream/types.ts";
import { gateConnections, type RefusalReason } from "./gate.ts";
import { TokenBucket } from "./rate.ts";

export { TokenBucket } from "./rate.ts";
export type { RefusalReason } from "./gate.ts";

/** Codes added by the operations layer, on top of the protocol's ErrorCode. */
export type TransportErrorCode = ErrorCode | "unknown_event" | "shutting_down";

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
  /** The stream core: owners, admission, sessions, delivery. */
  core: StreamHub;
  log: Logger;
  counters: TransportCounters;
  authorize?: AuthorizeClientId;
  /** Shared tokens; absent or empty = open. */
  auth?: TokenAuth;
  /** True once shutdown began: new connections and new sessions are refused. */
  isStopping?: () => boolean;
  /** Told about every refused connection (metrics). */
  onRefused?: (reason: RefusalReason) => void;
  /** Client addresses for limits.max_connections_per_ip; without it that limit is not applied. */
  peers?: PeerAddresses;
  /** Per-door counters (this door is "socketio"). */
  events?: DoorEvents;
}

/** The seed protocol's option keys: an ack lists these, and the newer ones only once set. */
const LIVE_KEYS = ["interim_results", "word_timestamps", "interim_interval", "vad_events"] as const;

/**
 * The Socket.IO front door: socket events → stream core calls. Every payload
 * is validated here; a bad one gets an `error` event back to its sender and
 * touches nothing else.
 */
export function bindSocketHandlers(deps: TransportDeps): void {
  const { io, config, core, log, counters } = deps;
  const limits = config.limits;
  const maxChunkSamples = Math.round(limits.max_chunk_seconds * config.sample_rate);
  gateConnections(io, deps);

  io.on("connection", (socket) => {
    if (socket.data.pendingAddress !== undefined) {
      deps.peers?.add(socket.data.pendingAddress);
      socket.data.address = socket.data.pendingAddress;
    }
    const bucket = new TokenBucket(limits.max_events_per_second, limits.max_events_per_second * 2);
    const fail = (event: string, code: TransportErrorCode, message: string, extra?: { retry_after_ms: number }) => {
      counters.errors.set(code, (counters.errors.get(code) ?? 0) + 1);
      deps.events?.error("socketio", code);
      socket.emit("error", { event, code, message, ...extra });
      log.once(`${socket.id}:${code}`, `refused ${event} from socket: ${message}`, { socket: socket.id, code });
    };
    const grant: Grant = socket.data.grant ?? FULL_ACCESS;
    // The token's scope first, then the embedder's hook (which knows cleanup as "send").
    const allowed = async (clientId: string, action: Action) =>
      grant.allows(clientId, action) && (deps.authorize ? await deps.authorize(socket, clientId, action === "cleanup" ? "send" : action) : true);
    const validate = <T>(event: string, schema: TSchema, payload: unknown, expected: string): payload is T => {
      if (Value.Check(schema, payload)) return true;
      fail(event, "invalid_payload", describeInvalid(schema, payload, expected));
      return false;
    };

    socket.emit("connection_status", { status: "connected" });

    // Options: from the handshake (whole socket), then per clientId through
    // stream_options. Unknown handshake keys are ignored (old clients may send
    // anything there); a bad value is reported and ignored.
    const socketOptions: Partial<StreamOptions> = {};
    const { token: _token, ...handshakeOptions } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const picked = Object.fromEntries(Object.entries(handshakeOptions).filter(([k]) => k in HandshakeStreamOptions.properties));
    const pickedBad = Value.Check(HandshakeStreamOptions, picked) ? core.checkOptions(picked) : describeInvalid(HandshakeStreamOptions, picked, "stream options in the handshake auth");
    if (pickedBad) fail("connect", "invalid_payload", pickedBad);
    else Object.assign(socketOptions, picked);
    const clientOptions = new Map<string, Partial<StreamOptions>>();
    const resumeKey = typeof handshakeOptions.resumeKey === "string" ? handshakeOptions.resumeKey : undefined;
    const wantsResumeKey = handshakeOptions.resumable === true || resumeKey !== undefined;
    // Failover (opt-in): audio_ack tells the sender what it may forget; resume_from
    // (stream seconds) says where the audio it replays after a reconnect begins.
    const wantsAudioAck = handshakeOptions.audio_ack === true;
    const rawResume = handshakeOptions.resume_from;
    const resumeFrom = typeof rawResume === "number" && Number.isFinite(rawResume) && rawResume >= 0 ? rawResume : undefined;
    if (rawResume !== undefined && resumeFrom === undefined) fail("connect", "invalid_payload", "resume_from must be a number of stream seconds >= 0");
    const rawPreroll = handshakeOptions.preroll;
    const preroll = typeof rawPreroll === "number" && rawPreroll >= 0 && rawPreroll <= 5 && rawPreroll <= (resumeFrom ?? 0) ? rawPreroll : undefined;
    if (rawPreroll !== undefined && preroll === undefined) fail("connect", "invalid_payload", "preroll must be 0 to 5 seconds, at most resume_from");
    // Only the first stream of each clientId on this connection continues at resume_from.
    const resumedHere = new Set<string>();
    const joinLiveRooms = async (clientId: string, o: Pick<StreamOptions, "interim_results" | "vad_events">) => {
      await (o.interim_results ? socket.join(rooms.interims(clientId)) : socket.leave(rooms.interims(clientId)));
      await (o.vad_events ? socket.join(rooms.vadEvents(clientId)) : socket.leave(rooms.vadEvents(clientId)));
    };
    const ackOptions = (o: StreamOptions) => {
      const out: Record<string, unknown> = Object.fromEntries(LIVE_KEYS.map((k) => [k, o[k]]));
      for (const [k, v] of Object.entries(o)) if (!(k in out) && v != null && !(k === "segmentation" && v === "vad")) out[k] = v;
      return out;
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
    // to wait for the authorize hook before its stream exists.
    let audioChain: Promise<void> = Promise.resolve();
    let pendingChunks = 0;
    socket.on("audio_data", (payload: unknown) => {
      // Bounded: chunks waiting behind a slow authorize hook must not pile up without limit.
      if (pendingChunks >= limits.max_pending_chunks) {
        counters.refusedPayloads++;
        return fail("audio_data", "rate_limited", `more than ${limits.max_pending_chunks} audio events waiting to be handled (max_pending_chunks)`);
      }
      pendingChunks++;
      audioChain = audioChain
        .then(() => onAudio(payload))
        .catch((err) => log.error("audio_data handler failed", { error: String(err) }))
        .finally(() => void pendingChunks--);
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
      const stream = core.streamOf(clientId, socket.id) ?? (await startStream(clientId));
      if (!stream) return;
      const pushed = stream.push(pcm.samples);
      if (!pushed.ok) {
        counters.refusedPayloads++;
        return fail("audio_data", pushed.code, pushed.message);
      }
      counters.audioSeconds += pcm.samples.length / config.sample_rate;
    };

    /** Makes this socket the clientId's sender; answers the sender itself when it cannot. */
    const startStream = async (clientId: string): Promise<LiveStream | null> => {
      if (deps.isStopping?.()) return void fail("audio_data", "shutting_down", "the server is shutting down and takes no new streams"), null;
      if (!(await allowed(clientId, "send"))) return void fail("audio_data", "forbidden", `not allowed to send audio for "${clientId}"`), null;
      // The socket may have gone while the authorize hook ran: it must not claim anything.
      if (!socket.connected) return null;
      const opened = await core.open({
        clientId,
        connectionId: socket.id,
        door: "socketio",
        grant,
        token: socket.data.token,
        // Only a per-device token identifies the sender (a fleet token is shared by siblings).
        scoped: grant.device === clientId,
        resumeKey,
        options: { ...socketOptions, ...clientOptions.get(clientId) },
        ...(resumeFrom !== undefined && !resumedHere.has(clientId) ? { resumeFrom, preroll } : {}),
        ...(wantsAudioAck ? { onAudioAck: (until: number) => socket.emit("audio_ack", { clientId, until }) } : {}),
      });
      resumedHere.add(clientId);
      if (!opened.ok) {
        if (opened.notify !== false) deps.events?.refused("socketio", opened.code);
        if (opened.code === "server_busy") {
          // Refused audio is dropped, not queued; later chunks of a refused stream are dropped quietly until retry_after_ms.
          return opened.notify === false ? null : (fail("audio_data", "server_busy", opened.message, { retry_after_ms: opened.retryAfterMs ?? 1000 }), null);
        }
        return void fail("audio_data", opened.code, opened.message), null;
      }
      if (opened.previousOwner) io.in(opened.previousOwner).socketsLeave([rooms.transcripts(clientId), rooms.interims(clientId), rooms.vadEvents(clientId)]);
      await socket.join(rooms.transcripts(clientId));
      await joinLiveRooms(clientId, opened.stream.options);
      if (!socket.connected) {
        // Gone during the joins: the disconnect handler ran before the claim existed.
        await core.releaseConnection(socket.id);
        return null;
      }
      if (opened.fresh) deps.events?.streamOpened("socketio");
      // Opt-in: clients of the original server must see no new event type.
      if (opened.fresh && wantsResumeKey) socket.emit("stream_started", { clientId, resumeKey: opened.resumeKey });
      return opened.stream;
    };

    socket.on("stream_options", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      const expected = "{clientId, interim_results?, word_timestamps?, interim_interval?, vad_events?, language?, silence_duration?, vad_threshold?}";
      if (!validate<typeof StreamOptionsPayload.static>("stream_options", StreamOptionsPayload, payload, expected)) return reply?.({ ok: false, code: "invalid_payload" });
      const { clientId, ...options } = payload;
      const owner = core.ownerOf(clientId);
      if (owner !== undefined && owner !== socket.id) {
        fail("stream_options", "client_id_in_use", `clientId "${clientId}" is streaming from another connection`);
        return reply?.({ ok: false, code: "client_id_in_use" });
      }
      const bad = core.checkOptions(options);
      if (bad) {
        fail("stream_options", "invalid_payload", bad);
        return reply?.({ ok: false, code: "invalid_payload" });
      }
      if (!clientOptions.has(clientId) && clientOptions.size >= limits.max_subscriptions_per_socket) {
        fail("stream_options", "max_subscriptions", `options kept for ${limits.max_subscriptions_per_socket} clientIds on this connection already (max_subscriptions_per_socket)`);
        return reply?.({ ok: false, code: "max_subscriptions" });
      }
      clientOptions.set(clientId, { ...clientOptions.get(clientId), ...options });
      const stream = core.streamOf(clientId, socket.id);
      const effective = stream ? stream.setOptions(options) : { ...config.streams, ...socketOptions, ...clientOptions.get(clientId) };
      if (stream) await joinLiveRooms(clientId, effective);
      reply?.({ ok: true, clientId, options: ackOptions(effective) });
    });

    socket.on("finalize", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      if (!validate<ClientIdPayload>("finalize", ClientIdPayload, payload, "{clientId: string}")) return reply?.({ ok: false, code: "invalid_payload" });
      const owner = core.ownerOf(payload.clientId);
      if (owner !== undefined && owner !== socket.id) {
        fail("finalize", "forbidden", `only the socket streaming "${payload.clientId}" may finalize it`);
        return reply?.({ ok: false, code: "forbidden" });
      }
      // Wait for chunks of this socket still on their way into the stream.
      await audioChain;
      const finalized = (await core.streamOf(payload.clientId, socket.id)?.finalize()) ?? false;
      reply?.({ ok: true, clientId: payload.clientId, finalized });
    });

    socket.on("subscribe_transcripts", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : undefined;
      const expected = "{clientId: string, interim_results?: boolean, vad_events?: boolean}";
      if (!validate<typeof SubscribePayload.static>("subscribe_transcripts", SubscribePayload, payload, expected)) return reply?.({ ok: false, code: "invalid_payload" });
      const { clientId } = payload;
      if (!(await allowed(clientId, "subscribe"))) {
        fail("subscribe_transcripts", "forbidden", `not allowed to subscribe to "${clientId}"`);
        return reply?.({ ok: false, code: "forbidden" });
      }
      const subscribed = [...socket.rooms].filter((r) => r.startsWith(rooms.transcripts(""))).length;
      if (!socket.rooms.has(rooms.transcripts(clientId)) && subscribed >= limits.max_subscriptions_per_socket) {
        fail("subscribe_transcripts", "max_subscriptions", `this connection is subscribed to ${limits.max_subscriptions_per_socket} clientIds already (max_subscriptions_per_socket)`);
        return reply?.({ ok: false, code: "max_subscriptions" });
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
      if (!validate<ClientIdPayload>("unsubscribe_transcripts", ClientIdPayload, payload, "{clientId: string}")) return reply?.({ ok: false, code: "invalid_payload" });
      // The audio sender stays in its own room: it must keep receiving its transcripts.
      if (core.ownerOf(payload.clientId) !== socket.id) {
        await socket.leave(rooms.transcripts(payload.clientId));
        await joinLiveRooms(payload.clientId, { interim_results: false, vad_events: false });
      }
      reply?.({ ok: true, clientId: payload.clientId });
    });

    const dropClient = async (event: string, payload: unknown): Promise<string[] | null> => {
      if (!validate<ClientIdPayload>(event, ClientIdPayload, payload, "{clientId: string}")) return null;
      const { clientId } = payload;
      // Audio of this socket still on its way in belongs to the stream being ended, not to a new one.
      await audioChain;
      const mine = core.ownerOf(clientId) === socket.id;
      const live = core.streamOf(clientId, socket.id) !== undefined || (!mine && core.ownerOf(clientId) !== undefined);
      // A sender may always end its own stream; anyone else needs the cleanup right
      // (the hook is asked only when there is someone else's stream to end, as before).
      if (!mine && (!grant.allows(clientId, "cleanup") || (live && !(await allowed(clientId, "cleanup"))))) {
        fail(event, "forbidden", `not allowed to clean up "${clientId}"`);
        return null;
      }
      if (mine) {
        const had = core.streamOf(clientId, socket.id) !== undefined;
        await core.release(clientId, socket.id);
        return had ? [clientId] : [];
      }
      // Only the sender's own cleanup frees the clientId; someone else's just ends the session.
      return (await core.end(clientId)) ? [clientId] : [];
    };

    socket.on("cleanup_client", async (payload: unknown) => {
      const cleaned = await dropClient("cleanup_client", payload);
      if (cleaned === null) return;
      const reply: CleanupConfirmedPayload = { clientId: (payload as ClientIdPayload).clientId, cleanedSessions: cleaned, timestamp: Date.now() / 1000 };
      socket.emit("cleanup_confirmed", reply);
    });

    socket.on("client_disconnected", async (payload: unknown) => {
      await dropClient("client_disconnected", payload);
    });

    socket.on("disconnect", async () => {
      log.forget(`${socket.id}:`);
      if (socket.data.address !== undefined) deps.peers?.remove(socket.data.address);
      await core.releaseConnection(socket.id);
    });
  });
}

function describeInvalid(schema: TSchema, payload: unknown, expected: string): string {
  const first = Value.Errors(schema, payload).First();
  const where = first?.path ? ` at ${first.path}: ${first.message}` : "";
  return `expected ${expected}${where}`;
}
