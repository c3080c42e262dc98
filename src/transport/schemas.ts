import { Type, type Static } from "@sinclair/typebox";

/**
 * Wire payloads (the contract with existing clients). Shared by the server and
 * the TypeScript client so both sides agree on shapes.
 */

export const ClientId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[\\x21-\\x7e]+$" });

/** `audio_data` object form; the legacy form is the binary alone. */
export const AudioDataPayload = Type.Object({ clientId: ClientId, audioData: Type.Unknown() });
export const ClientIdPayload = Type.Object({ clientId: ClientId });

/** Live-result options of one stream (all optional: unset keys keep the config's defaults). */
export const StreamOptionFields = {
  interim_results: Type.Optional(Type.Boolean()),
  word_timestamps: Type.Optional(Type.Boolean()),
  interim_interval: Type.Optional(Type.Number({ minimum: 0.2, maximum: 5 })),
  vad_events: Type.Optional(Type.Boolean()),
  /** New, additive: the stream's language (checked against the model), and its segmentation. */
  language: Type.Optional(Type.Union([Type.String({ minLength: 2, maxLength: 8 }), Type.Null()])),
  silence_duration: Type.Optional(Type.Union([Type.Number({ minimum: 0.05, maximum: 10 }), Type.Null()])),
  vad_threshold: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), Type.Null()])),
  /** New, additive: vocabulary and context for the stream's next utterances (limits in the README). */
  keyterms: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
  prompt: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
  /** New, additive: end of turn by the Smart Turn model (see the README's "Turn detection"). */
  turn_detection: Type.Optional(Type.Union([Type.Literal("silence"), Type.Literal("model")])),
  eot_threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
  eager_eot_threshold: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()])),
  eot_timeout: Type.Optional(Type.Number({ minimum: 0.3, maximum: 60 })),
};
/** Handshake `auth` may carry the options too (beside `token`). */
export const HandshakeStreamOptions = Type.Object(StreamOptionFields);
export const StreamOptionsPayload = Type.Object({ clientId: ClientId, ...StreamOptionFields }, { additionalProperties: false });
/** A monitor may ask for interims and VAD events of the stream it watches. */
export const SubscribePayload = Type.Object({
  clientId: ClientId,
  interim_results: Type.Optional(Type.Boolean()),
  vad_events: Type.Optional(Type.Boolean()),
});

export const WordPayload = Type.Object({
  word: Type.String(),
  start: Type.Number({ description: "Stream seconds." }),
  end: Type.Number({ description: "Stream seconds." }),
  probability: Type.Number(),
});

export const TranscriptionInterimPayload = Type.Object({
  client_id: Type.String(),
  seq: Type.Integer({ description: "The seq the final of this utterance will carry." }),
  text: Type.String({ description: "Whole hypothesis; words past stable_text may still change." }),
  stable_text: Type.String({ description: "Committed prefix: only grows within an utterance; the final starts with it." }),
  start: Type.Number({ description: "Utterance start, stream seconds." }),
  end: Type.Number({ description: "Audio covered so far, stream seconds." }),
  ts: Type.Number(),
  words: Type.Optional(Type.Array(WordPayload)),
});

export const SpeechStartedPayload = Type.Object({ client_id: Type.String(), start: Type.Number({ description: "Stream seconds." }) });

export const TranscriptionPayload = Type.Object({
  // --- fields of the original server (unchanged) ---
  text: Type.String(),
  duration: Type.Number({ description: "Utterance length, seconds." }),
  client_id: Type.String(),
  ts: Type.Number({ description: "Epoch seconds (float) when the transcript was produced." }),
  // --- additive ---
  start: Type.Number({ description: "Utterance start in stream time, seconds." }),
  end: Type.Number({ description: "Utterance end in stream time, seconds." }),
  seq: Type.Integer({ description: "Per-clientId sequence number, from 0." }),
  language: Type.String(),
  avg_logprob: Type.Number(),
  no_speech_prob: Type.Number(),
  final: Type.Boolean({ description: "False when speech continued past max_segment_duration and more parts follow." }),
  // --- live results (only when the stream asked for them) ---
  words: Type.Optional(Type.Array(WordPayload)),
  from_finalize: Type.Optional(Type.Literal(true, { description: "Closed by the client's finalize event." })),
  end_of_turn: Type.Optional(
    Type.Object(
      {
        probability: Type.Union([Type.Number(), Type.Null()], { description: "Smart Turn's last P(complete) for this turn; null when never scored." }),
        trigger: Type.Union([Type.Literal("model"), Type.Literal("timeout"), Type.Literal("silence"), Type.Literal("finalize"), Type.Literal("max_duration")]),
      },
      { description: 'Only on streams with turn_detection "model": why this turn ended.' },
    ),
  ),
});

/** turn_detection "model" with eager_eot_threshold: the turn is probably over. */
export const TurnEagerPayload = Type.Object({ client_id: Type.String(), seq: Type.Integer(), text: Type.String(), probability: Type.Number() });
export const TurnResumedPayload = Type.Object({ client_id: Type.String(), seq: Type.Integer() });

export const ErrorPayload = Type.Object({
  event: Type.String(),
  code: Type.String(),
  message: Type.String(),
  retry_after_ms: Type.Optional(Type.Integer({ description: "With server_busy: when to try this node again." })),
});
export const CleanupConfirmedPayload = Type.Object({
  clientId: Type.String(),
  cleanedSessions: Type.Array(Type.String()),
  timestamp: Type.Number(),
});

export type AudioDataPayload = Static<typeof AudioDataPayload>;
export type ClientIdPayload = Static<typeof ClientIdPayload>;
export type TranscriptionPayload = Static<typeof TranscriptionPayload>;
export type ErrorPayload = Static<typeof ErrorPayload>;
export type StreamOptionsPayload = Static<typeof StreamOptionsPayload>;
export type SubscribePayload = Static<typeof SubscribePayload>;
export type WordPayload = Static<typeof WordPayload>;
export type TranscriptionInterimPayload = Static<typeof TranscriptionInterimPayload>;
export type SpeechStartedPayload = Static<typeof SpeechStartedPayload>;
export type TurnEagerPayload = Static<typeof TurnEagerPayload>;
export type CleanupConfirmedPayload = Static<typeof CleanupConfirmedPayload>;

/** Error codes sent in `error` events. */
export type ErrorCode =
  | "invalid_payload"
  | "invalid_audio"
  | "empty_audio"
  | "odd_byte_length"
  | "chunk_too_long"
  | "payload_too_large"
  | "client_id_in_use"
  | "buffer_full"
  | "queue_full"
  | "max_sessions"
  | "max_subscribers"
  | "max_subscriptions"
  | "rate_limited"
  | "forbidden"
  | "engine_error"
  | "server_busy";
