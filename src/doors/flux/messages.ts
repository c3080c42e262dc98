/**
 * Deepgram Flux (`/v2/listen`) messages, server → client, as the SDKs'
 * ListenV2* types describe them. `sequence_id` is filled in at send time
 * (it counts every message the server sends, from 0), so builders leave it out.
 */

export type TurnEvent = "Update" | "StartOfTurn" | "EagerEndOfTurn" | "TurnResumed" | "EndOfTurn";

export interface FluxWord {
  /** As the model wrote it: punctuated, cased. */
  word: string;
  confidence: number;
  start: number;
  end: number;
}

export interface FluxThresholds {
  eot_threshold: number;
  eager_eot_threshold?: number;
  eot_timeout_ms: number;
}

export interface FluxConnected {
  type: "Connected";
  request_id: string;
}

export interface FluxTurnInfo {
  type: "TurnInfo";
  request_id: string;
  event: TurnEvent;
  turn_index: number;
  audio_window_start: number;
  audio_window_end: number;
  transcript: string;
  words: FluxWord[];
  end_of_turn_confidence: number;
  /** Only on EndOfTurn: model, timeout or manual (ForceEndTurn). */
  trigger?: "model" | "timeout" | "manual";
}

export interface FluxConfigureSuccess {
  type: "ConfigureSuccess";
  request_id: string;
  thresholds: FluxThresholds;
  keyterms: string[];
}

export interface FluxConfigureFailure {
  type: "ConfigureFailure";
  request_id: string;
  /** Not in Deepgram's message (it has none): why, for people reading logs. */
  description: string;
}

/** Flux's error message: `code` a constant (UNPARSABLE_CLIENT_MESSAGE, …), `description` prose. */
export interface FluxError {
  type: "Error";
  code: string;
  description: string;
}

export type FluxMessage = FluxConnected | FluxTurnInfo | FluxConfigureSuccess | FluxConfigureFailure | FluxError;
export type Sequenced = FluxMessage & { sequence_id: number };

export function fluxError(code: string, description: string): FluxError {
  return { type: "Error", code, description };
}
