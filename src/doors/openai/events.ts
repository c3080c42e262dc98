/**
 * Server events of the OpenAI Realtime API that a transcription session
 * sends, in OpenAI's shapes (openai-python `types/realtime/*_event.py`).
 * `event_id` is added by the sender, which numbers them per connection.
 */

export type OutEvent = { type: string } & Record<string, unknown>;

export type ErrorType = "invalid_request_error" | "server_error";

export interface RealtimeError {
  type: ErrorType;
  code: string;
  message: string;
  param?: string | null;
  /** The client event that caused it, when it carried an event_id. */
  event_id?: string | null;
}

export const sessionCreated = (session: Record<string, unknown>): OutEvent => ({ type: "session.created", session });
export const sessionUpdated = (session: Record<string, unknown>): OutEvent => ({ type: "session.updated", session });
export const transcriptionSessionUpdated = (session: Record<string, unknown>): OutEvent => ({ type: "transcription_session.updated", session });

export const speechStarted = (itemId: string, audioStartMs: number): OutEvent => ({
  type: "input_audio_buffer.speech_started",
  audio_start_ms: audioStartMs,
  item_id: itemId,
});
export const speechStopped = (itemId: string, audioEndMs: number): OutEvent => ({
  type: "input_audio_buffer.speech_stopped",
  audio_end_ms: audioEndMs,
  item_id: itemId,
});
export const committed = (itemId: string, previousItemId: string | null): OutEvent => ({
  type: "input_audio_buffer.committed",
  previous_item_id: previousItemId,
  item_id: itemId,
});
export const cleared = (): OutEvent => ({ type: "input_audio_buffer.cleared" });

export const delta = (itemId: string, text: string): OutEvent => ({
  type: "conversation.item.input_audio_transcription.delta",
  item_id: itemId,
  content_index: 0,
  delta: text,
});
export const completed = (itemId: string, transcript: string, seconds: number): OutEvent => ({
  type: "conversation.item.input_audio_transcription.completed",
  item_id: itemId,
  content_index: 0,
  transcript,
  usage: { type: "duration", seconds },
});
export const failed = (itemId: string, code: string, message: string): OutEvent => ({
  type: "conversation.item.input_audio_transcription.failed",
  item_id: itemId,
  content_index: 0,
  error: { type: "server_error", code, message, param: null },
});

export const error = (e: RealtimeError): OutEvent => ({
  type: "error",
  error: { type: e.type, code: e.code, message: e.message, param: e.param ?? null, event_id: e.event_id ?? null },
});

/** Milliseconds on the session's audio clock (stream seconds → integer ms, as OpenAI's fields are). */
export const ms = (seconds: number): number => Math.max(0, Math.round(seconds * 1000));
