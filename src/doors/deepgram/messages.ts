/**
 * Deepgram v1 live messages, server → client. Shapes follow the SDKs'
 * ListenV1* types; every field a client may index is always present
 * (LiveKit and Vocode read them without defaults).
 */

/** `[channel, channel count]`: this server transcribes one channel. */
export const CHANNEL: readonly [number, number] = [0, 1];

export interface DgWord {
  /** Lower case, no punctuation ("americans"). */
  word: string;
  start: number;
  end: number;
  confidence: number;
  /** As the model wrote it ("Americans,") with punctuate/smart_format; else the bare word. */
  punctuated_word: string;
}

export interface ModelInfo {
  name: string;
  version: string;
  arch: string;
}

export interface DgMeta {
  request_id: string;
  model_info: ModelInfo;
  model_uuid: string;
}

export interface DgResults {
  type: "Results";
  channel_index: number[];
  duration: number;
  start: number;
  is_final: boolean;
  speech_final: boolean;
  from_finalize: boolean;
  channel: { alternatives: { transcript: string; confidence: number; words: DgWord[]; languages?: string[] }[] };
  metadata: DgMeta;
}

export interface DgSpeechStarted {
  type: "SpeechStarted";
  channel: number[];
  timestamp: number;
}

export interface DgUtteranceEnd {
  type: "UtteranceEnd";
  channel: number[];
  last_word_end: number;
}

export interface DgMetadata {
  type: "Metadata";
  transaction_key: "deprecated";
  request_id: string;
  sha256: string;
  created: string;
  duration: number;
  channels: number;
  models: string[];
  model_info: Record<string, ModelInfo>;
}

/**
 * The SDKs' ListenV1Error: `variant` is the category ("SchemaError": a client
 * text message that could not be used, whose text is echoed in `message`),
 * `code` (legacy) this server's error code, `description` what went wrong.
 */
export type ErrorVariant = "SchemaError" | "DataError" | "ServerError";
export interface DgError {
  type: "Error";
  variant: ErrorVariant;
  code: string;
  description: string;
  message: string;
}

export interface DgConfigureSuccess {
  type: "ConfigureSuccess";
  request_id: string;
  /** Present only when the Configure replaced them. */
  keyterms?: string[];
}

export interface DgConfigureFailure {
  type: "ConfigureFailure";
  request_id: string;
  code: "CONFIGURE_KEYTERM_LIMIT_EXCEEDED" | "CONFIGURE_INTERNAL_ERROR";
  description: string;
}

export type DgMessage = DgResults | DgSpeechStarted | DgUtteranceEnd | DgMetadata | DgError | DgConfigureSuccess | DgConfigureFailure;

export function configureSuccess(requestId: string, keyterms?: string[]): DgConfigureSuccess {
  return keyterms ? { type: "ConfigureSuccess", request_id: requestId, keyterms } : { type: "ConfigureSuccess", request_id: requestId };
}

export function configureFailure(requestId: string, code: DgConfigureFailure["code"], description: string): DgConfigureFailure {
  return { type: "ConfigureFailure", request_id: requestId, code, description };
}

/** Seconds as Deepgram prints them (ms resolution), never negative. */
export function secs(x: number): number {
  return Math.max(0, Math.round(x * 1000) / 1000);
}

export function speechStarted(timestamp: number): DgSpeechStarted {
  return { type: "SpeechStarted", channel: [...CHANNEL], timestamp: secs(timestamp) };
}

export function utteranceEnd(lastWordEnd: number): DgUtteranceEnd {
  return { type: "UtteranceEnd", channel: [...CHANNEL], last_word_end: secs(lastWordEnd) };
}

/** `message`: the offending client message for SchemaError (cut to 256 characters), else the description again (older SDKs read it). */
export function errorMessage(variant: ErrorVariant, code: string, description: string, message = description): DgError {
  return { type: "Error", variant, code, description, message: message.slice(0, 256) };
}

export function metadataMessage(meta: DgMeta, f: { sha256: string; created: Date; duration: number }): DgMetadata {
  return {
    type: "Metadata",
    transaction_key: "deprecated",
    request_id: meta.request_id,
    sha256: f.sha256,
    created: f.created.toISOString(),
    duration: secs(f.duration),
    channels: 1,
    models: [meta.model_uuid],
    model_info: { [meta.model_uuid]: meta.model_info },
  };
}

/** A stable UUID-shaped id for the loaded model (the same model name gives the same id). */
export function modelUuid(name: string): string {
  const h = new Bun.CryptoHasher("sha256").update(`bun-whisper-stt model ${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
