import { AudioDecodeError, AudioTooLongError, decodeAudio } from "../offline/decode.ts";
import { toSrt, toVerboseJson, toVtt } from "../offline/format.ts";
import { transcribeSamples } from "../offline/transcribe.ts";
import { requireToken, type HttpContext } from "./context.ts";
import { JobSlots, readBodyCapped } from "./body.ts";
import { modelLanguages } from "./languages.ts";
import { transcriptionEvents } from "./transcription-sse.ts";

/**
 * POST /v1/audio/transcriptions, compatible with OpenAI's transcription API
 * (and so with its SDKs): multipart `file`, `model` (any name is accepted; the
 * server's loaded model answers), `language`, `prompt`, `response_format`
 * (json | text | srt | verbose_json | vtt), `temperature`, `stream` (true:
 * server-sent events, src/http/transcription-sse.ts). The file is decoded
 * (WAV in TS, other formats with ffmpeg), cut into utterances by the same
 * Silero VAD and segmenter as live streams, and each utterance is transcribed
 * by the shared engine.
 *
 * `prompt` conditions every utterance of the file (in place of the configured
 * initial_prompt). `temperature` is validated but not applied: decoding is
 * deterministic (temperature 0, beam_size from the configuration).
 */

export const TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions";
const FORMATS = new Set(["json", "text", "srt", "verbose_json", "vtt"]);
/**
 * File jobs run this many at a time; the rest wait in line (live streams keep
 * priority in the engine's batching). A job holds its slot from before its
 * body is read, so waiting uploads cost no memory.
 */
const slots = new JobSlots(2, 32);

export async function handleOpenAi(req: Request, ctx: HttpContext): Promise<Response | null> {
  if (new URL(req.url).pathname !== TRANSCRIPTIONS_PATH) return null;
  const done = { audioSeconds: 0 };
  const res = await transcriptionRequest(req, ctx, done);
  if (req.method !== "OPTIONS") ctx.metrics?.fileRequest(res.status, done.audioSeconds);
  return res;
}

async function transcriptionRequest(req: Request, ctx: HttpContext, done: { audioSeconds: number }): Promise<Response> {
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: { Allow: "POST, OPTIONS" } });
  if (req.method !== "POST") return fail(405, "method_not_allowed", `use POST for ${TRANSCRIPTIONS_PATH}`, null, { Allow: "POST" });
  const denied = requireToken(req, ctx);
  if (denied) return denied;
  if (!ctx.isReady()) return fail(503, "not_ready", "the server is starting or shutting down", null);

  const type = req.headers.get("content-type") ?? "";
  if (!/^multipart\/form-data/i.test(type)) {
    return fail(400, "invalid_request", "send multipart/form-data with a `file` field (and `model`)", null);
  }
  const maxBytes = ctx.config.limits.max_upload_bytes;
  if (Number(req.headers.get("content-length") ?? 0) > maxBytes) return tooLarge(maxBytes);
  const release = await slots.acquire();
  if (!release) return fail(429, "too_many_requests", "too many transcription jobs in progress; retry later", null, { "Retry-After": "5" });
  // A streamed answer keeps the slot until its last event.
  let streaming: Promise<void> | null = null;
  try {
    const body = await readBodyCapped(req, maxBytes);
    if (!body) return tooLarge(maxBytes);
    let form: FormData;
    try {
      form = await new Response(body, { headers: { "content-type": type } }).formData();
    } catch {
      return fail(400, "invalid_request", "could not parse the multipart/form-data body", null);
    }
    return await transcribeForm(form, ctx, done, (finished) => (streaming = finished));
  } finally {
    if (streaming) (streaming as Promise<void>).finally(release);
    else release();
  }
}

async function transcribeForm(form: FormData, ctx: HttpContext, done: { audioSeconds: number }, streamed: (finished: Promise<void>) => void): Promise<Response> {
  const limits = ctx.config.limits;

  const file = form.get("file");
  if (file === null) return fail(400, "missing_file", "the `file` field is required (the audio to transcribe)", "file");
  if (typeof file === "string") return fail(400, "invalid_file", "`file` must be a file upload, not a text field", "file");

  const format = text(form, "response_format") ?? "json";
  if (!FORMATS.has(format)) return fail(400, "invalid_value", `response_format must be one of ${[...FORMATS].join(", ")}`, "response_format");
  const language = text(form, "language")?.toLowerCase();
  if (language !== undefined && !/^[a-z]{2,3}$/.test(language)) {
    return fail(400, "invalid_value", "language must be an ISO 639-1 code such as \"en\"", "language");
  }
  const known = modelLanguages(ctx.engine.info);
  if (language !== undefined && known && !known.has(language)) {
    const which = known.size === 1 ? `this model only knows "${[...known][0]}"` : "this model does not know it";
    return fail(400, "invalid_value", `language "${language}": ${which}`, "language");
  }
  const temperature = text(form, "temperature");
  if (temperature !== undefined && !(Number(temperature) >= 0 && Number(temperature) <= 1)) {
    return fail(400, "invalid_value", "temperature must be a number between 0 and 1", "temperature");
  }
  const prompt = text(form, "prompt");
  if (prompt !== undefined && prompt.length > 2000) return fail(400, "invalid_value", "prompt is limited to 2000 characters", "prompt");
  const stream = text(form, "stream") === "true";
  if (stream && format !== "json" && format !== "text") {
    return fail(400, "invalid_value", "stream=true answers with transcript.text.* events: response_format must be json or text", "response_format");
  }

  // OpenAI: timestamp_granularities[] = word and/or segment, with verbose_json only.
  const granularities = [...form.getAll("timestamp_granularities[]"), ...form.getAll("timestamp_granularities")].map(String);
  if (granularities.some((g) => g !== "word" && g !== "segment")) {
    return fail(400, "invalid_value", "timestamp_granularities[] must be \"word\" or \"segment\"", "timestamp_granularities");
  }
  const wordTimestamps = granularities.includes("word");
  if (wordTimestamps && format !== "verbose_json") {
    return fail(400, "invalid_value", "timestamp_granularities[]=word needs response_format=verbose_json", "timestamp_granularities");
  }

  const name = (file.name || "file").slice(0, 200);
  let audio: Float32Array;
  try {
    audio = await decodeAudio(new Uint8Array(await file.arrayBuffer()), {
      timeoutMs: limits.file_decode_timeout_seconds * 1000,
      maxSeconds: limits.max_file_seconds,
    });
  } catch (err) {
    if (err instanceof AudioTooLongError) return fail(413, "audio_too_long", `${name}: ${err.message}`, "file");
    if (err instanceof AudioDecodeError) return fail(400, "invalid_audio", `${name}: ${err.message}`, "file");
    throw err;
  }
  if (audio.length === 0) return fail(400, "invalid_audio", `${name}: no audio samples in the file`, "file");

  const deps = { config: ctx.config, vad: ctx.vad, engine: ctx.engine, guardCounters: ctx.sessions.guardCounters };
  if (stream) {
    done.audioSeconds = audio.length / 16000;
    const sse = transcriptionEvents((onSegment, signal) => transcribeSamples(audio, deps, { language, prompt, onSegment, signal }), ctx.log);
    streamed(sse.finished);
    return sse.response;
  }
  let result;
  try {
    result = await transcribeSamples(audio, deps, { language, prompt, wordTimestamps });
  } catch (err) {
    // The engine's message stays in the log: it may name paths and internals.
    ctx.log.error("file transcription failed", { error: String(err) });
    return fail(500, "engine_error", "transcription failed; the server log has the details", null);
  }

  done.audioSeconds = audio.length / 16000;
  switch (format) {
    case "text":
      return new Response(result.text + "\n", { headers: { "Content-Type": "text/plain; charset=utf-8" } });
    case "srt":
      return new Response(toSrt(result.segments), { headers: { "Content-Type": "text/plain; charset=utf-8" } });
    case "vtt":
      return new Response(toVtt(result.segments), { headers: { "Content-Type": "text/vtt; charset=utf-8" } });
    case "verbose_json":
      return Response.json(toVerboseJson(result, { words: wordTimestamps, segments: granularities.length === 0 || granularities.includes("segment") }));
    default:
      return Response.json({ text: result.text });
  }
}

function text(form: FormData, key: string): string | undefined {
  const v = form.get(key);
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

function tooLarge(maxBytes: number): Response {
  return fail(413, "file_too_large", `uploads are limited to ${maxBytes} bytes (max_upload_bytes)`, "file");
}

/** OpenAI's error shape: {error: {message, type, param, code}}. */
function fail(status: number, code: string, message: string, param: string | null, headers: Record<string, string> = {}): Response {
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param, code } }, { status, headers });
}
