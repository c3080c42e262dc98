import { Type, type Static } from "@sinclair/typebox";

/**
 * The one configuration schema. Keys of the original Python server keep their
 * names and meaning (snake_case); everything else is additive with defaults.
 */

const Seconds = (def: number, min: number, max: number, description: string) =>
  Type.Number({ default: def, minimum: min, maximum: max, description });

export const LimitsSchema = Type.Object(
  {
    max_payload_bytes: Type.Integer({ default: 1_048_576, minimum: 1024, description: "Largest socket event accepted (bytes)." }),
    max_chunk_seconds: Seconds(10, 0.01, 60, "Longest audio chunk in one audio_data event."),
    max_buffered_seconds: Seconds(60, 5, 600, "Audio a session may hold while waiting for VAD/engine."),
    max_sessions: Type.Integer({ default: 1000, minimum: 1, description: "Concurrent audio sessions on this node." }),
    max_subscribers_per_room: Type.Integer({ default: 64, minimum: 1 }),
    max_events_per_second: Type.Integer({ default: 200, minimum: 1, description: "Per-socket event rate (token bucket, burst = 2 s worth)." }),
    max_queued_utterances: Type.Integer({ default: 8, minimum: 1, description: "Utterances one clientId may have waiting for the engine." }),
    max_connections: Type.Integer({ default: 10_000, minimum: 1, description: "Concurrent Socket.IO connections on this node; more are refused at connect." }),
    max_connections_per_ip: Type.Integer({ default: 256, minimum: 1, description: "Concurrent Socket.IO connections from one client address (behind a proxy: the proxy's)." }),
    max_sessions_per_socket: Type.Integer({ default: 16, minimum: 1, description: "clientIds one connection may stream audio for at once." }),
    max_subscriptions_per_socket: Type.Integer({ default: 256, minimum: 1, description: "clientIds one connection may subscribe to, or keep stream_options for, at once." }),
    max_pending_chunks: Type.Integer({ default: 64, minimum: 1, description: "Audio events of one connection waiting to be handled (behind an authorize hook); more are refused." }),
    max_upload_bytes: Type.Integer({ default: 64 * 1024 * 1024, minimum: 1024, description: "Largest request body of POST /v1/audio/transcriptions (multipart included), chunked or not." }),
    max_file_seconds: Seconds(3600, 1, 86_400, "Longest audio the file endpoint transcribes; longer files are refused (413)."),
    file_decode_timeout_seconds: Seconds(120, 0.05, 3600, "ffmpeg is killed when decoding an upload takes longer."),
    idle_session_seconds: Seconds(60, 1, 86_400, "A session that received no audio for this long is ended (its open speech is still transcribed); the sender keeps its clientId while connected."),
  },
  { additionalProperties: false, default: {} },
);

export const CapacitySchema = Type.Object(
  {
    admission: Type.Boolean({ default: true, description: "Refuse a new stream (server_busy) when it would push the predicted final latency past max_latency." }),
    max_latency: Seconds(2, 0.001, 120, "Promised p95 from an utterance's end (VAD cut) to its transcript, for admitted streams."),
    max_streams: Type.Integer({ default: 0, minimum: 0, description: "Operator cap on admitted streams on this node; 0 = only the measured capacity." }),
    max_utilization: Type.Number({
      default: 0.65,
      exclusiveMinimum: 0,
      maximum: 1,
      description:
        "Share of the engine's measured throughput admission plans for; the rest absorbs talkers speaking at once and long utterances (0.65 from bench:overload: at 0.85 admitted streams' p95 went past max_latency, docs/benchmarks.md).",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ScopedTokenSchema = Type.Object(
  {
    token: Type.String({ minLength: 8 }),
    clientIds: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
      minItems: 1,
      description: 'Globs of the clientIds this token may use: "*" matches any run of characters, "?" one.',
    }),
    can: Type.Array(Type.Union([Type.Literal("send"), Type.Literal("subscribe"), Type.Literal("cleanup")]), { minItems: 1 }),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    // --- keys of the original server -------------------------------------
    model_path: Type.String({ default: "models/tiny.en", minLength: 1, description: "CTranslate2 Whisper model folder." }),
    port: Type.Integer({ default: 2700, minimum: 0, maximum: 65535 }),
    host: Type.String({ default: "0.0.0.0", minLength: 1 }),
    silence_duration: Seconds(0.8, 0.05, 10, "Trailing silence that ends an utterance (0.8 as the original: measured in docs/benchmarks.md, bench:live)."),
    min_speech_duration: Seconds(0.25, 0, 10, "Utterances shorter than this are dropped."),
    vad_threshold: Type.Number({ default: 0.5, exclusiveMinimum: 0, exclusiveMaximum: 1, description: "Silero speech probability that opens an utterance." }),
    processing_interval: Seconds(0.3, 0.01, 5, "How often streams are checked for stalls (see stall_timeout); VAD itself runs on every chunk as it arrives."),
    max_workers: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 64,
      description: "Engine workers (model replicas making concurrent calls); 0 = automatic: one per core up to 4 on CPU, 1 on CUDA (src/engine/shape.ts, measured in docs/benchmarks.md).",
    }),
    sample_rate: Type.Literal(16000, { default: 16000, description: "Input sample rate; the protocol is 16 kHz only." }),
    enable_logging: Type.Boolean({ default: true }),
    // --- engine --------------------------------------------------------------
    device: Type.Union([Type.Literal("auto"), Type.Literal("cpu"), Type.Literal("cuda")], { default: "auto" }),
    compute_type: Type.String({ default: "default", description: "'default' = float16 on cuda, int8 on cpu; or any CTranslate2 compute type." }),
    device_index: Type.Integer({ default: 0, minimum: 0 }),
    cpu_threads: Type.Integer({ default: 0, minimum: 0, description: "CTranslate2 intra-op threads per worker; 0 = the cores split evenly among the workers." }),
    language: Type.Union([Type.String({ minLength: 2, maxLength: 8 }), Type.Null()], { default: null, description: "null = detect (multilingual models)." }),
    task: Type.Union([Type.Literal("transcribe"), Type.Literal("translate")], { default: "transcribe" }),
    beam_size: Type.Integer({ default: 1, minimum: 1, maximum: 16 }),
    max_new_tokens: Type.Integer({ default: 200, minimum: 1, maximum: 440 }),
    initial_prompt: Type.Union([Type.String(), Type.Null()], { default: null }),
    batch_size: Type.Integer({ default: 8, minimum: 1, maximum: 64, description: "Most utterances in one engine call (cross-client batching)." }),
    interim_engine_share: Type.Number({
      default: 0.5,
      minimum: 0.05,
      maximum: 1,
      description: "Most of the engine's time the interims of all streams may take (recent seconds); past it they thin out. Finals never wait in line behind interims.",
    }),
    interim_window: Type.Union([Type.Literal("trimmed"), Type.Literal("full")], {
      default: "full",
      description:
        "Encoder window of interims: Whisper's 30 s as finals (default: committed words as accurate as finals), or their audio + 3 s of silence (cheaper, but on tiny.en it commits more wrong words; docs/benchmarks.md).",
    }),
    batch_wait_ms: Type.Integer({ default: 0, minimum: 0, maximum: 1000, description: "Extra wait for a fuller batch; 0 batches only what is already queued." }),
    // --- segmentation -----------------------------------------------------------
    max_segment_duration: Seconds(25, 2, 28, "Longer speech is cut at the quietest point near this limit; every part is transcribed."),
    speech_pad: Seconds(0.2, 0, 1, "Audio kept before and after speech so edge phonemes are not clipped."),
    stall_timeout: Seconds(
      1.5,
      0.05,
      60,
      "An open utterance whose audio stopped arriving this long ago is closed and transcribed (push-to-talk release without trailing silence, a dead client). Longer than network jitter, so a late burst does not split a sentence.",
    ),
    // --- live results (per-stream options; these are the defaults) ----------------
    streams: Type.Object(
      {
        interim_results: Type.Boolean({ default: false, description: "Send transcription_interim while a person speaks (opt-in per stream)." }),
        word_timestamps: Type.Boolean({ default: false, description: "Finals carry words [{word, start, end, probability}] in stream seconds." }),
        interim_interval: Seconds(0.6, 0.2, 5, "Seconds between interim updates of one stream (measured choice: docs/benchmarks.md)."),
        vad_events: Type.Boolean({ default: false, description: "Send speech_started when the VAD opens speech." }),
        // Segmentation and decoding per stream; null = the server-wide setting above.
        language: Type.Union([Type.String({ minLength: 2, maxLength: 8 }), Type.Null()], {
          default: null,
          description: "Language of the stream's speech; null = the server's `language` (detect per utterance on multilingual models).",
        }),
        silence_duration: Type.Union([Type.Number({ minimum: 0.05, maximum: 10 }), Type.Null()], { default: null, description: "Per-stream trailing silence (s) that ends an utterance; null = silence_duration." }),
        vad_threshold: Type.Union([Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), Type.Null()], { default: null, description: "Per-stream speech probability that opens an utterance; null = vad_threshold." }),
        speech_pad: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], { default: null, description: "Per-stream padding (s) kept around speech; null = speech_pad." }),
        // Vocabulary per stream (names, products, jargon); unset = initial_prompt.
        keyterms: Type.Optional(
          Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50, description: "Terms Whisper should expect, fed as previous-context text with every utterance of the stream." }),
        ),
        prompt: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()], { description: "Previous-context text for the stream's utterances (as Whisper's prompt); replaces initial_prompt." })),
        // End of turn per stream; unset = the `turn` section below.
        turn_detection: Type.Optional(Type.Union([Type.Literal("silence"), Type.Literal("model")], { description: "Per-stream turn.detection." })),
        eot_threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: "Per-stream turn.eot_threshold." })),
        eager_eot_threshold: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()], { description: "Per-stream turn.eager_eot_threshold (null = off)." })),
        eot_timeout: Type.Optional(Type.Number({ minimum: 0.3, maximum: 60, description: "Per-stream turn.eot_timeout." })),
        segmentation: Type.Union([Type.Literal("vad"), Type.Literal("manual")], {
          default: "vad",
          description: "vad: an utterance ends after silence_duration of silence; manual: only finalize (or the end of the stream) ends one (OpenAI turn_detection null).",
        }),

      },
      { additionalProperties: false, default: {} },
    ),
    // --- end of turn (per-stream options; these are the defaults) ----------------
    turn: Type.Object(
      {
        detection: Type.Union([Type.Literal("silence"), Type.Literal("model")], {
          default: "silence",
          description: 'How an utterance (a turn) ends: "silence" after silence_duration of silence, as always; "model" when Smart Turn v3.2 judges the turn complete at a pause.',
        }),
        min_pause: Seconds(0.2, 0.05, 2, "Model mode: silence (s) after which the turn so far is scored (measured choice: docs/benchmarks.md, bench:turns)."),
        eot_threshold: Type.Number({ default: 0.7, exclusiveMinimum: 0, maximum: 1, description: "Model mode: P(complete) at or above which the turn ends at the pause (0.7 as Deepgram Flux)." }),
        eager_eot_threshold: Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()], {
          default: null,
          description: "Model mode: P(complete) at or above which turn_eager is sent (the turn is probably over); null = off. Not above eot_threshold.",
        }),
        eot_timeout: Seconds(2, 0.3, 60, "Model mode: silence (s) that ends the turn whatever the model says."),
        model_path: Type.String({ default: "models/smart-turn/smart-turn-v3.2-cpu.onnx", minLength: 1, description: "Smart Turn ONNX model (scripts/fetch-smart-turn.sh installs it)." }),
      },
      { additionalProperties: false, default: {} },
    ),
    // --- hallucination guards (faster-whisper's defaults), live and files -----------
    guards: Type.Object(
      {
        no_speech_threshold: Type.Number({ default: 0.6, minimum: 0, maximum: 1, description: "Drop a result whose no_speech_prob is above this ..." }),
        log_prob_threshold: Type.Number({ default: -1.0, maximum: 0, description: "... while its avg_logprob is below this." }),
        compression_ratio_threshold: Type.Number({
          default: 2.4,
          minimum: 1,
          description: "A text whose gzip compression ratio is above this is repetition: retried alone at the fallback temperatures, then dropped.",
        }),
        temperature_fallback: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 2 }), {
          default: [0.2, 0.4, 0.6, 0.8, 1.0],
          maxItems: 10,
          description: "Sampling temperatures tried in turn for a repetitive result.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    // --- transport and operations -------------------------------------------------
    cors: Type.Object(
      {
        origin: Type.Union([Type.String(), Type.Array(Type.String()), Type.Null()], {
          default: null,
          description: 'Allowed browser origins. null (default): "*" when auth.tokens is empty, same-origin only when tokens are set.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        tokens: Type.Array(Type.Union([Type.String({ minLength: 8 }), ScopedTokenSchema]), {
          default: [],
          description: "Shared tokens (a string may do everything) or scoped ones ({token, clientIds, can}); empty = open server.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: LimitsSchema,
    capacity: CapacitySchema,
    shutdown_grace_seconds: Seconds(15, 0, 300, "On SIGTERM: time allowed to finish captured utterances."),
    redis_url: Type.Union([Type.String(), Type.Null()], { default: null }),
    resume_ttl_seconds: Seconds(30, 5, 3600, "With redis_url: how long a clientId's claim outlives a node that died without giving it up (the sender's resume key takes it back at once)."),
  },
  { additionalProperties: true },
);

export type Config = Static<typeof ConfigSchema>;
export type Limits = Static<typeof LimitsSchema>;
export type StreamDefaults = Config["streams"];
export type GuardConfig = Config["guards"];
export type TurnConfig = Config["turn"];
export type CapacityConfig = Static<typeof CapacitySchema>;
