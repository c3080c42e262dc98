import { MAX_PROMPT_LENGTH } from "../../stream/core.ts";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { InputFormat } from "./audio.ts";

/**
 * The transcription session's configuration: the GA `session.update`
 * ({type:"transcription", audio:{input:{format, transcription, turn_detection,
 * noise_reduction}}}) and the beta `transcription_session.update`
 * (input_audio_format, input_audio_transcription, turn_detection) both patch
 * one effective config, which maps onto the stream's options and is echoed in
 * `session.updated` / `transcription_session.updated`. Only present fields
 * change; an update with any bad value changes nothing.
 */

export type Eagerness = "low" | "medium" | "high" | "auto";
export type TurnType = "server_vad" | "semantic_vad";

export interface SessionConfig {
  format: InputFormat;
  transcription: { model: string; language: string | null; prompt: string | null };
  /** null: manual commits only (`turn_detection: null`). */
  turn: TurnType | null;
  /** server_vad's values; kept while another mode is on so switching back restores them. */
  vad: { threshold: number; prefix_padding_ms: number; silence_duration_ms: number };
  eagerness: Eagerness;
  noiseReduction: { type: "near_field" | "far_field" } | null;
  include: string[];
}

/** Stream options this door sets (a subset of the core's per-stream options, StreamOptions). */
export interface RealtimeStreamOptions {
  interim_results: boolean;
  vad_events: boolean;
  language: string | null;
  prompt: string | null;
  vad_threshold: number;
  speech_pad: number;
  silence_duration: number;
  segmentation: "vad" | "manual";
  /** "model" for semantic_vad, else "silence". */
  turn_detection: "silence" | "model";
  eot_threshold: number;
  eot_timeout: number;
  /** OpenAI has no eager event: always off. */
  eager_eot_threshold: null;
}

/**
 * semantic_vad ends a turn with the Smart Turn model (turn_detection
 * "model"): eagerness picks the P(complete) that ends a turn at a pause and
 * the longest silence before it ends anyway. The timeouts are OpenAI's own
 * (low/medium/high: 8/4/2 s, auto = medium); the thresholds are this
 * server's choice: high ends at a pause the model calls even (0.5), low
 * waits for a confident verdict (0.9), medium takes Flux's default (0.7).
 */
export const EAGERNESS_TURN: Record<Eagerness, { eot_threshold: number; eot_timeout: number }> = {
  low: { eot_threshold: 0.9, eot_timeout: 8 },
  medium: { eot_threshold: 0.7, eot_timeout: 4 },
  auto: { eot_threshold: 0.7, eot_timeout: 4 },
  high: { eot_threshold: 0.5, eot_timeout: 2 },
};

export interface ServerDefaults {
  model: string;
  language: string | null;
  vad_threshold: number;
  speech_pad: number;
  silence_duration: number;
}

export function initialConfig(d: ServerDefaults): SessionConfig {
  return {
    format: { type: "audio/pcm", rate: 24000 },
    transcription: { model: d.model, language: d.language, prompt: null },
    turn: "server_vad",
    vad: { threshold: d.vad_threshold, prefix_padding_ms: Math.round(d.speech_pad * 1000), silence_duration_ms: Math.round(d.silence_duration * 1000) },
    eagerness: "auto",
    noiseReduction: null,
    include: [],
  };
}

// --- wire schemas (unknown keys are accepted and ignored) ---------------------------

const Opt = <T extends TSchema>(t: T) => Type.Optional(t);
const OrNull = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

// language and prompt may be null; their checks are in checkTranscription (a union's error would not say which).
const Transcription = Type.Object({
  model: Opt(Type.String({ maxLength: 200 })),
  language: Opt(Type.Unknown()),
  prompt: Opt(Type.Unknown()),
});
const Bool = Opt(Type.Boolean());
// The ranges of the stream options they set (config `vad_threshold`, `speech_pad`, `silence_duration`).
const Threshold = Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 });
const PrefixPadding = Type.Integer({ minimum: 0, maximum: 1000 });
const Silence = Type.Integer({ minimum: 50, maximum: 10_000 });
const ServerVad = Type.Object({
  type: Type.Literal("server_vad"),
  threshold: Opt(Threshold),
  prefix_padding_ms: Opt(PrefixPadding),
  silence_duration_ms: Opt(Silence),
  idle_timeout_ms: Opt(OrNull(Type.Integer({ minimum: 0 }))),
  create_response: Bool,
  interrupt_response: Bool,
});
const EagernessSchema = Type.Union([Type.Literal("low"), Type.Literal("medium"), Type.Literal("high"), Type.Literal("auto")]);
const SemanticVad = Type.Object({ type: Type.Literal("semantic_vad"), eagerness: Opt(EagernessSchema), create_response: Bool, interrupt_response: Bool });
const NoiseReduction = OrNull(Type.Object({ type: Opt(Type.Union([Type.Literal("near_field"), Type.Literal("far_field")])), strength: Opt(Type.Number()) }));
const Include = OrNull(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 16 }));
const Format = Type.Object({
  type: Opt(Type.Union([Type.Literal("audio/pcm"), Type.Literal("audio/pcmu"), Type.Literal("audio/pcma")])),
  rate: Opt(Type.Number()),
});
const GaSession = Type.Object({
  type: Opt(Type.String()),
  audio: Opt(
    Type.Object({
      input: Opt(
        Type.Object({
          format: Opt(Format),
          transcription: Opt(Type.Unknown()),
          turn_detection: Opt(Type.Unknown()),
          noise_reduction: Opt(NoiseReduction),
        }),
      ),
    }),
  ),
  include: Opt(Include),
});
const BetaTurn = Type.Object({
  type: Opt(Type.Union([Type.Literal("server_vad"), Type.Literal("semantic_vad")])),
  threshold: Opt(Threshold),
  prefix_padding_ms: Opt(PrefixPadding),
  silence_duration_ms: Opt(Silence),
  eagerness: Opt(EagernessSchema),
  create_response: Bool,
  interrupt_response: Bool,
});
const BetaSession = Type.Object({
  input_audio_format: Opt(Type.Union([Type.Literal("pcm16"), Type.Literal("g711_ulaw"), Type.Literal("g711_alaw")])),
  input_audio_transcription: Opt(Type.Unknown()),
  turn_detection: Opt(Type.Unknown()),
  input_audio_noise_reduction: Opt(NoiseReduction),
  include: Opt(Include),
});

interface TranscriptionPatch {
  model?: string;
  language?: string | null;
  prompt?: string | null;
}
type GaSession = Static<typeof GaSession>;
type BetaSession = Static<typeof BetaSession>;

export type Patched = { ok: true; config: SessionConfig } | { ok: false; param: string; message: string };

/** Applies a GA `session.update`'s `session` to `c`. */
export function applyGa(c: SessionConfig, session: unknown): Patched {
  const bad = firstError(GaSession, session, "session");
  if (bad) return bad;
  const s = session as GaSession;
  if (s.type !== undefined && s.type !== "transcription") {
    return fail("session.type", `this server only serves transcription sessions (session.type "transcription"; connect with ?intent=transcription), not "${s.type}"`);
  }
  const next = copy(c);
  const input = s.audio?.input;
  if (input?.format) {
    const type = input.format.type ?? "audio/pcm";
    const rate = input.format.rate;
    if (type === "audio/pcm") {
      if (rate !== undefined && rate !== 24000 && rate !== 16000) return fail("session.audio.input.format.rate", `audio/pcm rate must be 24000 (or 16000, this server's extension), not ${rate}`);
      next.format = { type, rate: rate === 16000 ? 16000 : 24000 };
    } else {
      if (rate !== undefined && rate !== 8000) return fail("session.audio.input.format.rate", `${type} is 8000 Hz G.711 (got rate ${rate})`);
      next.format = { type };
    }
  }
  if (input?.transcription !== undefined) {
    const bad = patchTranscription(next, input.transcription, "session.audio.input.transcription");
    if (bad) return bad;
  }
  if (input && "turn_detection" in input) {
    const td = input.turn_detection;
    if (td === null) next.turn = null;
    else {
      const type = (td as { type?: unknown } | undefined)?.type;
      if (type === "server_vad") {
        const bad = firstError(ServerVad, td, "session.audio.input.turn_detection");
        if (bad) return bad;
        patchVad(next, td as Static<typeof ServerVad>);
        next.turn = "server_vad";
      } else if (type === "semantic_vad") {
        const bad = firstError(SemanticVad, td, "session.audio.input.turn_detection");
        if (bad) return bad;
        next.eagerness = (td as Static<typeof SemanticVad>).eagerness ?? next.eagerness;
        next.turn = "semantic_vad";
      } else {
        return fail("session.audio.input.turn_detection.type", 'turn_detection must be null or have type "server_vad" or "semantic_vad"');
      }
    }
  }
  if (input?.noise_reduction !== undefined) next.noiseReduction = input.noise_reduction ? { type: input.noise_reduction.type ?? "near_field" } : null;
  if (s.include !== undefined) next.include = s.include ?? [];
  return { ok: true, config: next };
}

/** Applies a beta `transcription_session.update`'s `session` to `c`. */
export function applyBeta(c: SessionConfig, session: unknown): Patched {
  const bad = firstError(BetaSession, session, "session");
  if (bad) return bad;
  const s = session as BetaSession;
  const next = copy(c);
  if (s.input_audio_format) {
    next.format = s.input_audio_format === "pcm16" ? { type: "audio/pcm", rate: 24000 } : { type: s.input_audio_format === "g711_ulaw" ? "audio/pcmu" : "audio/pcma" };
  }
  if (s.input_audio_transcription !== undefined) {
    const bad = patchTranscription(next, s.input_audio_transcription, "session.input_audio_transcription");
    if (bad) return bad;
  }
  if (s.turn_detection === null) next.turn = null;
  else if (s.turn_detection !== undefined) {
    const bad = firstError(BetaTurn, s.turn_detection, "session.turn_detection");
    if (bad) return bad;
    const td = s.turn_detection as Static<typeof BetaTurn>;
    next.turn = td.type ?? "server_vad";
    patchVad(next, td);
    if (td.eagerness) next.eagerness = td.eagerness;
  }
  if (s.input_audio_noise_reduction !== undefined) next.noiseReduction = s.input_audio_noise_reduction ? { type: s.input_audio_noise_reduction.type ?? "near_field" } : null;
  if (s.include !== undefined) next.include = s.include ?? [];
  return { ok: true, config: next };
}

export function streamOptionsOf(c: SessionConfig): RealtimeStreamOptions {
  const manual = c.turn === null;
  return {
    interim_results: true,
    vad_events: !manual,
    language: c.transcription.language,
    prompt: c.transcription.prompt,
    vad_threshold: c.vad.threshold,
    speech_pad: c.vad.prefix_padding_ms / 1000,
    silence_duration: c.vad.silence_duration_ms / 1000,
    segmentation: manual ? "manual" : "vad",
    turn_detection: c.turn === "semantic_vad" ? "model" : "silence",
    ...EAGERNESS_TURN[c.eagerness],
    eager_eot_threshold: null,
  };
}

/** Where each stream option came from, to name the `param` of a value the core refuses. */
export const OPTION_PARAMS: Record<keyof RealtimeStreamOptions, string> = {
  interim_results: "session",
  vad_events: "session.audio.input.turn_detection",
  language: "session.audio.input.transcription.language",
  prompt: "session.audio.input.transcription.prompt",
  vad_threshold: "session.audio.input.turn_detection.threshold",
  speech_pad: "session.audio.input.turn_detection.prefix_padding_ms",
  silence_duration: "session.audio.input.turn_detection.silence_duration_ms",
  segmentation: "session.audio.input.turn_detection",
  turn_detection: "session.audio.input.turn_detection.type",
  eot_threshold: "session.audio.input.turn_detection.eagerness",
  eot_timeout: "session.audio.input.turn_detection.eagerness",
  eager_eot_threshold: "session.audio.input.turn_detection.eagerness",
};

/** The GA session object (session.created / session.updated). */
export function renderGa(c: SessionConfig, id: string): Record<string, unknown> {
  return {
    id,
    object: "realtime.transcription_session",
    type: "transcription",
    expires_at: 0,
    include: c.include,
    audio: {
      input: {
        format: c.format.type === "audio/pcm" ? { type: "audio/pcm", rate: c.format.rate } : { type: c.format.type },
        transcription: { ...c.transcription },
        turn_detection: renderTurn(c),
        noise_reduction: c.noiseReduction,
      },
    },
  };
}

/** The beta session object (transcription_session.updated). */
export function renderBeta(c: SessionConfig, id: string): Record<string, unknown> {
  const format = c.format.type === "audio/pcm" ? "pcm16" : c.format.type === "audio/pcmu" ? "g711_ulaw" : "g711_alaw";
  return {
    id,
    object: "realtime.transcription_session",
    modalities: ["text"],
    input_audio_format: format,
    input_audio_transcription: { ...c.transcription },
    turn_detection: renderTurn(c),
    input_audio_noise_reduction: c.noiseReduction,
    include: c.include,
  };
}

function renderTurn(c: SessionConfig): Record<string, unknown> | null {
  if (c.turn === null) return null;
  if (c.turn === "semantic_vad") return { type: "semantic_vad", eagerness: c.eagerness, create_response: false, interrupt_response: false };
  return { type: "server_vad", ...c.vad, idle_timeout_ms: null, create_response: false, interrupt_response: false };
}

function patchTranscription(c: SessionConfig, value: unknown, prefix: string): Patched | null {
  // null turns transcription off at OpenAI; this server only transcribes, so it only drops the prompt.
  if (value === null) {
    c.transcription.prompt = null;
    return null;
  }
  const bad = firstError(Transcription, value, prefix);
  if (bad) return bad;
  const t = value as TranscriptionPatch;
  if (t.language !== undefined && t.language !== null && !(typeof t.language === "string" && /^[a-z]{2,3}$/.test(t.language))) {
    return fail(`${prefix}.language`, `Invalid '${prefix}.language': an ISO 639-1 code such as "en", or null (got ${JSON.stringify(t.language)?.slice(0, 40)})`);
  }
  if (t.prompt !== undefined && t.prompt !== null && !(typeof t.prompt === "string" && t.prompt.length <= MAX_PROMPT_LENGTH)) {
    return fail(`${prefix}.prompt`, `Invalid '${prefix}.prompt': a string of at most ${MAX_PROMPT_LENGTH} characters, or null`);
  }
  if (t.model !== undefined) c.transcription.model = t.model;
  if (t.language !== undefined) c.transcription.language = t.language;
  if (t.prompt !== undefined) c.transcription.prompt = t.prompt;
  return null;
}

function patchVad(c: SessionConfig, td: { threshold?: number; prefix_padding_ms?: number; silence_duration_ms?: number }): void {
  if (td.threshold !== undefined) c.vad.threshold = td.threshold;
  if (td.prefix_padding_ms !== undefined) c.vad.prefix_padding_ms = td.prefix_padding_ms;
  if (td.silence_duration_ms !== undefined) c.vad.silence_duration_ms = td.silence_duration_ms;
}

function copy(c: SessionConfig): SessionConfig {
  return { ...c, transcription: { ...c.transcription }, vad: { ...c.vad }, include: [...c.include] };
}

function fail(param: string, message: string): Patched {
  return { ok: false, param, message };
}

/** The first schema violation as an OpenAI `param` path ("session.audio.input.format.rate") and message. */
function firstError(schema: TSchema, value: unknown, prefix: string): Patched | null {
  const e = Value.Errors(schema, value).First();
  if (!e) return null;
  const param = [prefix, ...e.path.split("/").filter(Boolean)].join(".");
  const got = e.value === undefined ? "" : ` (got ${JSON.stringify(e.value)?.slice(0, 60)})`;
  return fail(param, `Invalid '${param}': ${e.message.toLowerCase()}${got}`);
}
