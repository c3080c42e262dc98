import { AbortedUpload, Upload, type UploadRefusal } from "../offline/upload.ts";
import { boundaryOf } from "../offline/multipart.ts";
import { toSrt, toVerboseJson, toVtt } from "../offline/format.ts";
import { transcribeSamples } from "../offline/transcribe.ts";
import { requireToken, type HttpContext } from "./context.ts";
import { JobSlots } from "./body.ts";
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
  const boundary = /^multipart\/form-data/i.test(type) ? boundaryOf(type) : null;
  if (!boundary) return fail(400, "invalid_request", "send multipart/form-data with a `file` field (and `model`)", null);
  const maxBytes = ctx.config.limits.max_upload_bytes;
  if (Number(req.headers.get("content-length") ?? 0) > maxBytes) return tooLarge(maxBytes);
  const release = await slots.acquire();
  if (!release) return fail(429, "too_many_requests", "too many transcription jobs in progress; retry later", null, { "Retry-After": "5" });
  // The body is read, decoded and resampled in a worker (src/offline/upload.ts); the job stops when its client goes away or shutdown gives up on it.
  const job = ctx.fileJobs?.begin(req.signal) ?? { signal: req.signal, stoppedByShutdown: false, end() {} };
  let upload: Upload | null = null;
  // A streamed answer keeps the slot (and counts as a running job) until its last event.
  let streaming: Promise<void> | null = null;
  try {
    const limits = ctx.config.limits;
    const got = await Upload.receive(req, boundary, { maxBytes, maxSeconds: limits.max_file_seconds, timeoutMs: limits.file_decode_timeout_seconds * 1000 }, job.signal);
    upload = got.upload;
    if ("refusal" in got) return refused(got.refusal);
    const form = new FormData();
    for (const [k, v] of got.fields) form.append(k, v);
    return await transcribeForm(form, got.file, upload, ctx, done, job.signal, (finished) => (streaming = finished));
  } catch (err) {
    if (!(err instanceof AbortedUpload)) throw err;
    return job.stoppedByShutdown
      ? fail(503, "shutting_down", "the server is shutting down; retry on another node", null, { "Retry-After": "5" })
      : fail(499, "client_closed_request", "the request was closed before its transcription finished", null);
  } finally {
    void upload?.close(); // the temporary file goes in the background: the answer need not wait for it
    const over = () => {
      job.end();
      release();
    };
    if (streaming) (streaming as Promise<void>).finally(over);
    else over();
  }
}

async function transcribeForm(
  form: FormData,
  file: { name: string } | null,
  upload: Upload,
  ctx: HttpContext,
  done: { audioSeconds: number },
  signal: AbortSignal,
  streamed: (finished: Promise<void>) => void,
): Promise<Response> {
  if (file === null && form.has("file")) return fail(400, "invalid_file", "`file` must be a file upload, not a text field", "file");
  if (file === null) return fail(400, "missing_file", "the `file` field is required (the audio to transcribe)", "file");

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

  const name = file.name;
  const decoded = await upload.decode();
  if ("refusal" in decoded) return refused(decoded.refusal);
  const audio = decoded.samples;
  if (audio.length === 0) return fail(400, "invalid_audio", `${name}: no audio samples in the file`, "file");

  const deps = { config: ctx.config, vad: ctx.vad, engine: ctx.engine, guardCounters: ctx.sessions.guardCounters };
  if (stream) {
    done.audioSeconds = audio.length / 16000;
    const sse = transcriptionEvents((onSegment, cancelled) => transcribeSamples(audio, deps, { language, prompt, onSegment, signal: AbortSignal.any([cancelled, signal]) }), ctx.log);
    streamed(sse.finished);
    return sse.response;
  }
  let result;
  try {
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new AbortedUpload("aborted"));
      signal.addEventListener("abort", () => reject(new AbortedUpload("aborted")), { once: true });
    });
    aborted.catch(() => {}); // may reject after the job is over
    const running = transcribeSamples(audio, deps, { language, prompt, wordTimestamps, signal });
    running.catch(() => {}); // an aborted job stops at its next step; its answer is already given
    result = await Promise.race([running, aborted]);
  } catch (err) {
    if (err instanceof AbortedUpload) throw err;
    // The only argument a file request passes on is its prompt; the engine refuses it without tokenizer.json.
    if ((err as { code?: string }).code === "invalid_argument") {
      return fail(400, "invalid_value", "this server's model cannot take a prompt (its tokenizer.json is missing)", "prompt");
    }
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

function refused(r: UploadRefusal): Response {
  return fail(r.status, r.code, r.message, r.param);
}

function tooLarge(maxBytes: number): Response {
  return fail(413, "file_too_large", `uploads are limited to ${maxBytes} bytes (max_upload_bytes)`, "file");
}

/** OpenAI's error shape: {error: {message, type, param, code}}. */
function fail(status: number, code: string, message: string, param: string | null, headers: Record<string, string> = {}): Response {
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param, code } }, { status, headers });
}
