/** The client's public types: options, events, errors, and the wire form of the stream options. */
import type { Static } from "@sinclair/typebox";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type {
  CleanupConfirmedPayload,
  ErrorPayload,
  HandshakeStreamOptions,
  SpeechStartedPayload,
  TranscriptionInterimPayload,
  TranscriptionPayload,
  WordPayload,
} from "../transport/schemas.ts";

export type { CleanupConfirmedPayload, ErrorPayload, SpeechStartedPayload, TranscriptionInterimPayload, TranscriptionPayload, WordPayload };

/** The wire (snake_case) form of the live-result options, as the server validates them. */
export type WireStreamOptions = Static<typeof HandshakeStreamOptions>;

/** Live-result options of a stream; unset ones keep the server's `streams.*` defaults. */
export interface StreamOptions {
  /** `transcription_interim` events (the "interim" listener) while a person speaks. */
  interimResults?: boolean;
  /** Finals carry `words: [{word, start, end, probability}]` in stream seconds. */
  wordTimestamps?: boolean;
  /** Seconds between interim updates (0.2 to 5; server default 0.6). */
  interimInterval?: number;
  /** `speech_started` events (the "speechStarted" listener) when the VAD opens speech. */
  vadEvents?: boolean;
}

/** What the server applies to a stream after stream_options: every option resolved. */
export type EffectiveStreamOptions = Required<StreamOptions>;

export interface SubscribeOptions {
  /** Receive the watched stream's interims too. */
  interimResults?: boolean;
  /** Receive the watched stream's speech_started events too. */
  vadEvents?: boolean;
  timeoutMs?: number;
}

export function toWireOptions(o: StreamOptions): WireStreamOptions {
  const wire: WireStreamOptions = {};
  if (o.interimResults !== undefined) wire.interim_results = o.interimResults;
  if (o.wordTimestamps !== undefined) wire.word_timestamps = o.wordTimestamps;
  if (o.interimInterval !== undefined) wire.interim_interval = o.interimInterval;
  if (o.vadEvents !== undefined) wire.vad_events = o.vadEvents;
  return wire;
}

export function fromWireOptions(w: Required<WireStreamOptions>): EffectiveStreamOptions {
  return { interimResults: w.interim_results, wordTimestamps: w.word_timestamps, interimInterval: w.interim_interval, vadEvents: w.vad_events };
}

export const SAMPLE_RATE = 16000;

export interface ConnectOptions extends StreamOptions {
  /** Server URL, e.g. "http://localhost:2700". */
  url: string;
  /** Stream id for sendAudio; the server puts transcripts in this room. Default: "ts-" and 128 random bits (hard to guess, so nobody else subscribes by accident or on purpose). */
  clientId?: string;
  /**
   * Shared token when the server has auth.tokens (sent as the handshake's auth.token).
   * The StreamOptions go in the handshake's auth too, so they apply from the first chunk
   * to every stream of this connection.
   */
  token?: string;
  /** Default ["websocket"]; add "polling" where websockets are blocked. */
  transports?: ("websocket" | "polling" | "webtransport")[];
  /** Reconnect automatically (default true); transcripts resume after reconnect (subscriptions are renewed). */
  reconnection?: boolean;
  /** Milliseconds to wait for the first connection (default 10 s). */
  timeoutMs?: number;
  /** Longest audio_data chunk in seconds (default 0.5); larger sendAudio calls are split. */
  maxChunkSeconds?: number;
  /** Extra socket.io-client options. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /**
   * Failover: keep up to this many seconds of audio the server has not yet
   * made durable (opt-in `audio_ack`), and after a reconnect (maybe to another
   * node behind a load balancer) replay it from the last acknowledged point,
   * so no final is lost or doubled and `start`/`end` continue on one clock.
   * 0 (default) = off. While disconnected, audio is only kept, not queued.
   */
  replaySeconds?: number;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export interface ClientEvents {
  /** Finals; `words` when the stream asked for word timestamps, `from_finalize` when finalize() closed it. */
  transcription: (t: TranscriptionPayload) => void;
  /** Hypotheses of the open utterance (only when asked for); `seq` is the seq its final will carry. */
  interim: (i: TranscriptionInterimPayload) => void;
  /** The VAD opened speech (only with vadEvents). */
  speechStarted: (s: SpeechStartedPayload) => void;
  /** Errors the server reports (`error` events) and transport failures (code "connect_error"). */
  error: (e: ErrorPayload) => void;
  connection: (state: ConnectionState, detail?: string) => void;
  cleanup: (c: CleanupConfirmedPayload) => void;
}

/** A request the server acknowledged with `{ok: false, code}`. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A refused subscribe_transcripts (kept as its own class for existing `instanceof` checks). */
export class SubscribeError extends RequestError {
  override name = "SubscribeError";
}

export interface Ack {
  ok: boolean;
  code?: string;
}

