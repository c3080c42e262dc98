import { Type, type Static } from "@sinclair/typebox";

/**
 * Wire payloads (the contract with existing clients). Shared by the server and
 * the TypeScript client so both sides agree on shapes.
 */

export const ClientId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[\\x21-\\x7e]+$" });

/** `audio_data` object form; the legacy form is the binary alone. */
export const AudioDataPayload = Type.Object({ clientId: ClientId, audioData: Type.Unknown() });
export const ClientIdPayload = Type.Object({ clientId: ClientId });

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
});

export const ErrorPayload = Type.Object({ event: Type.String(), code: Type.String(), message: Type.String() });
export const CleanupConfirmedPayload = Type.Object({
  clientId: Type.String(),
  cleanedSessions: Type.Array(Type.String()),
  timestamp: Type.Number(),
});

export type AudioDataPayload = Static<typeof AudioDataPayload>;
export type ClientIdPayload = Static<typeof ClientIdPayload>;
export type TranscriptionPayload = Static<typeof TranscriptionPayload>;
export type ErrorPayload = Static<typeof ErrorPayload>;
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
  | "rate_limited"
  | "forbidden"
  | "engine_error";
