import { AudioDecodeError, decodeAudio } from "../offline/decode.ts";
import { toSrt, toVerboseJson, toVtt } from "../offline/format.ts";
import { transcribeSamples } from "../offline/transcribe.ts";
import { requireToken, type HttpContext } from "./routes.ts";

/**
 * POST /v1/audio/transcriptions, compatible with OpenAI's transcription API
 * (and so with its SDKs): multipart `file`, `model` (any name is accepted; the
 * server's loaded model answers), `language`, `prompt`, `response_format`
 * (json | text | srt | verbose_json | vtt), `temperature`. The file is decoded
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
/** Upload limit (OpenAI's is 25 MB; WAV at 16 kHz is ~2 MB/min, so allow more). */
const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** File jobs run this many at a time; the rest wait in line (live streams keep priority in the engine's batching). */
const MAX_CONCURRENT_JOBS = 2;
const MAX_WAITING_JOBS = 32;

let running = 0;
const waiting: (() => void)[] = [];

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
  const length = Number(req.headers.get("content-length") ?? 0);
  if (length > MAX_UPLOAD_BYTES) return fail(413, "file_too_large", `uploads are limited to ${MAX_UPLOAD_BYTES >> 20} MB`, "file");
  let form: FormData;
  try {
    form = await req.formData();
  } catch (err) {
    return fail(400, "invalid_request", `could not read the multipart body: ${(err as Error).message}`, null);
  }

  const file = form.get("file");
  if (file === null) return fail(400, "missing_file", "the `file` field is required (the audio to transcribe)", "file");
  if (typeof file === "string") return fail(400, "invalid_file", "`file` must be a file upload, not a text field", "file");
  if (file.size > MAX_UPLOAD_BYTES) return fail(413, "file_too_large", `uploads are limited to ${MAX_UPLOAD_BYTES >> 20} MB`, "file");

  const format = text(form, "response_format") ?? "json";
  if (!FORMATS.has(format)) return fail(400, "invalid_value", `response_format must be one of ${[...FORMATS].join(", ")}`, "response_format");
  const language = text(form, "language")?.toLowerCase();
  if (language !== undefined && !/^[a-z]{2,3}$/.test(language)) {
    return fail(400, "invalid_value", "language must be an ISO 639-1 code such as \"en\"", "language");
  }
  const temperature = text(form, "temperature");
  if (temperature !== undefined && !(Number(temperature) >= 0 && Number(temperature) <= 1)) {
    return fail(400, "invalid_value", "temperature must be a number between 0 and 1", "temperature");
  }
  const prompt = text(form, "prompt");
  if (prompt !== undefined && prompt.length > 2000) return fail(400, "invalid_value", "prompt is limited to 2000 characters", "prompt");
  if (text(form, "stream") === "true") return fail(400, "unsupported", "stream=true is not supported; stream audio over Socket.IO instead", "stream");

  // OpenAI: timestamp_granularities[] = word and/or segment, with verbose_json only.
  const granularities = [...form.getAll("timestamp_granularities[]"), ...form.getAll("timestamp_granularities")].map(String);
  if (granularities.some((g) => g !== "word" && g !== "segment")) {
    return fail(400, "invalid_value", "timestamp_granularities[] must be \"word\" or \"segment\"", "timestamp_granularities");
  }
  const wordTimestamps = granularities.includes("word");
  if (wordTimestamps && format !== "verbose_json") {
    return fail(400, "invalid_value", "timestamp_granularities[]=word needs response_format=verbose_json", "timestamp_granularities");
  }

  let audio: Float32Array;
  try {
    audio = await decodeAudio(new Uint8Array(await file.arrayBuffer()));
  } catch (err) {
    if (err instanceof AudioDecodeError) return fail(400, "invalid_audio", `${file.name || "file"}: ${err.message}`, "file");
    throw err;
  }
  if (audio.length === 0) return fail(400, "invalid_audio", `${file.name || "file"}: no audio samples in the file`, "file");

  if (running >= MAX_CONCURRENT_JOBS && waiting.length >= MAX_WAITING_JOBS) {
    return fail(429, "too_many_requests", "too many transcription jobs in progress; retry later", null, { "Retry-After": "5" });
  }
  while (running >= MAX_CONCURRENT_JOBS) await new Promise<void>((r) => waiting.push(r));
  running++;
  let result;
  try {
    result = await transcribeSamples(
      audio,
      { config: ctx.config, vad: ctx.vad, engine: ctx.engine, guardCounters: ctx.sessions.guardCounters },
      { language, prompt, wordTimestamps },
    );
  } catch (err) {
    ctx.log.error("file transcription failed", { error: String(err) });
    return fail(500, "engine_error", `transcription failed: ${(err as Error).message}`, null);
  } finally {
    running--;
    waiting.shift()?.();
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

/** OpenAI's error shape: {error: {message, type, param, code}}. */
function fail(status: number, code: string, message: string, param: string | null, headers: Record<string, string> = {}): Response {
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param, code } }, { status, headers });
}
