import type { Grant } from "../auth/access.ts";
import type { TokenAuth } from "../auth/tokens.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { StreamDefaults } from "../config/schema.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload, TranscriptionPayload, TurnEagerPayload } from "../transport/schemas.ts";

/**
 * The contract between the front doors (Socket.IO, Deepgram, OpenAI Realtime)
 * and the stream core. A door translates its wire format into these calls and
 * these events into its messages; it never touches sessions, claims, capacity
 * or the engine itself.
 */

/** Which front door a stream came in through (metrics, logs). */
export type Door = "socketio" | "deepgram" | "flux" | "openai";

/** A stream's options: the config's `streams.*` defaults, overridden per stream. */
export type StreamOptions = StreamDefaults;

/** Why an utterance was closed. */
export type EndReason = "silence" | "finalize" | "cut" | "close" | "stall" | "turn";

/** A closed utterance's result. `text` is "" when nothing usable was said (guards, ≤ 1 character). */
export interface FinalEvent {
  payload: TranscriptionPayload;
  /** True when the room (Socket.IO) did not get it: empty or a single character. */
  empty: boolean;
  endedBy: EndReason;
}

/** The VAD closed an utterance at `end` (stream seconds); its final follows. */
export interface SpeechStoppedEvent {
  client_id: string;
  seq: number;
  start: number;
  end: number;
  endedBy: EndReason;
}

/**
 * What a door hears about its own stream, in the stream's order: for one
 * utterance, speechStarted → interims → speechStopped → final. Socket.IO
 * monitors are served by the core's room fan-out; a door only needs a listener
 * for its own connection.
 */
export interface StreamListener {
  final(e: FinalEvent): void;
  interim?(e: TranscriptionInterimPayload): void;
  speechStarted?(e: SpeechStartedPayload): void;
  speechStopped?(e: SpeechStoppedEvent): void;
  /** turn_detection "model" with eager_eot_threshold: the turn is probably over (the agent may start replying). */
  turnEager?(e: TurnEagerPayload): void;
  /** Speech came back after turnEager: the agent should cancel its early reply. */
  turnResumed?(e: { client_id: string; seq: number }): void;
  /** An utterance could not be transcribed (engine_error, queue_full), or the stream was taken over. */
  error(code: string, message: string): void;
}

export interface StreamRequest {
  clientId: string;
  /** Unique per connection (a Socket.IO socket id, "dg:<uuid>", "oa:<uuid>"). */
  connectionId: string;
  door: Door;
  grant: Grant;
  /** The credential the connection authenticated with, and whether it is a scoped (per-principal) token. */
  token?: string;
  scoped?: boolean;
  /** A resume key from an earlier stream_started, to take the clientId back after a reconnect. */
  resumeKey?: string;
  options?: Partial<StreamOptions>;
  /**
   * Stream seconds of this connection's first sample: the sender resumed the
   * stream (after a reconnect, maybe on another node) and replays from here.
   * Times it hears continue on one clock, and a session left on this node by
   * the old connection is dropped unheard (the replay covers it).
   */
  resumeFrom?: number;
  /** Seconds of already-acknowledged audio sent before resumeFrom to warm the VAD up (src/stream/clock.ts); never transcribed. */
  preroll?: number;
  /** Opt-in `audio_ack`: the stream seconds of audio now durable (src/stream/clock.ts). */
  onAudioAck?: (until: number) => void;
  /** Direct delivery to this connection (doors other than Socket.IO). */
  listener?: StreamListener;
}

export type OpenRefusal = {
  ok: false;
  code: "forbidden" | "client_id_in_use" | "max_sessions" | "server_busy" | "shutting_down" | "invalid_payload";
  message: string;
  /** With server_busy: when to try again. */
  retryAfterMs?: number;
  /** False for a refused stream's repeated audio: stay quiet until retryAfterMs. */
  notify?: boolean;
};

export type OpenResult = { ok: true; stream: LiveStream; resumeKey: string; fresh: boolean; previousOwner?: string } | OpenRefusal;

export type PushResult = { ok: true } | { ok: false; code: "buffer_full"; message: string };

/** A door's handle on one live stream. */
export interface LiveStream {
  readonly clientId: string;
  readonly connectionId: string;
  /** The effective options. */
  readonly options: StreamOptions;
  /** Seconds of audio received (the stream clock). */
  readonly audioSeconds: number;
  /** 16 kHz mono float samples in [-1, 1]. */
  push(samples: Float32Array): PushResult;
  /**
   * Closes the open utterance now, after the audio already pushed was scored;
   * false: nothing was open. Its final follows: `await settled()` to wait for it.
   */
  finalize(): Promise<boolean>;
  /** Drops the open (not yet closed) speech without transcribing it. */
  clear(): Promise<void>;
  /** Changes options; takes effect from the next chunk (segmentation) or utterance (decoding). */
  setOptions(o: Partial<StreamOptions>): StreamOptions;
  /** Resolves once every result of audio pushed so far has been delivered. */
  settled(): Promise<void>;
  /** Flushes open speech, delivers its final, and gives the clientId up. */
  close(): Promise<void>;
}

/**
 * What a front door gets from the core. Per-stream options (config
 * `streams.*`, overridable per stream) include, besides the live-result ones:
 * `language` (null = the server's), `silence_duration` (s of trailing silence
 * that ends an utterance), `vad_threshold`, `speech_pad` (s kept before and
 * after speech), and `segmentation` ("vad": utterances end on silence;
 * "manual": only finalize/close end one, e.g. OpenAI `turn_detection: null`).
 */
export interface StreamCore {
  open(req: StreamRequest): Promise<OpenResult>;
  /** Null when a new stream would be admitted now; else the refusal (doors that refuse at the handshake). */
  wouldAdmit(): OpenRefusal | null;
  /** Checks per-stream options (a language the model lacks, a value out of range); null when fine. */
  checkOptions(o: Partial<StreamOptions>): string | null;
  /** True once shutdown began: doors refuse new connections. */
  stopping(): boolean;
}

/** Per-door counters (Prometheus `stt_door_*`). */
export interface DoorEvents {
  streamOpened(door: Door): void;
  refused(door: Door, code: string): void;
  error(door: Door, code: string): void;
}

/** Everything a front door is built from (`deepgramDoor(ctx)`, `realtimeDoor(ctx)`). */
export interface DoorContext {
  core: StreamCore;
  config: Config;
  /** The server's tokens (plain and scoped); `auth.enabled` false = open server. */
  auth: TokenAuth;
  log: Logger;
  events: DoorEvents;
}
