/**
 * bun:ffi bindings to native/build/libsttwhisper.so (see native/include/sttwhisper.h).
 * Thin typed wrappers: every failure becomes a thrown SttError carrying the shim's
 * status code and message. These calls block the calling thread — call them from a
 * Worker (src/engine/worker.ts), never from the server's main thread.
 */
import { CString, dlopen, FFIType, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import path from "node:path";

export const LIB_PATH = process.env.STT_WHISPER_LIB ?? path.resolve(import.meta.dir, "../native/build/libsttwhisper.so");

/** STT_ABI_VERSION of native/include/sttwhisper.h these bindings are written for. */
export const ABI_VERSION = 2;

/** Status codes of native/include/sttwhisper.h, by number. */
export const STATUS_NAMES = {
  0: "ok",
  1: "invalid_argument",
  2: "invalid_audio",
  3: "model_not_found",
  4: "model_load",
  5: "no_cuda",
  6: "bad_handle",
  7: "inference",
  8: "out_of_memory",
  9: "internal",
} as const;
export type SttStatusName = (typeof STATUS_NAMES)[keyof typeof STATUS_NAMES];

/** Longest utterance (10 min at 16 kHz); per utterance, not per call. */
export const MAX_SAMPLES = 9_600_000;
export const MAX_BATCH = 256;
export const MAX_LENGTH = 448;

export class SttError extends Error {
  /** Symbolic code, e.g. "invalid_audio", "no_cuda". */
  readonly code: SttStatusName | "library_missing" | "abi_mismatch";
  /** Numeric shim status (0 for library_missing and abi_mismatch). */
  readonly status: number;
  constructor(status: number, message: string, code?: SttStatusName | "library_missing" | "abi_mismatch") {
    super(message);
    this.name = "SttError";
    this.status = status;
    this.code = code ?? (STATUS_NAMES as Record<number, SttStatusName>)[status] ?? "internal";
  }
}

const symbols = {
  stt_abi_version: { args: [], returns: FFIType.i32 },
  stt_version: { args: [], returns: FFIType.cstring },
  stt_cuda_device_count: { args: [], returns: FFIType.i32 },
  stt_last_error_code: { args: [], returns: FFIType.i32 },
  stt_last_error: { args: [], returns: FFIType.cstring },
  stt_free: { args: [FFIType.ptr], returns: FFIType.void },
  stt_models_constructed: { args: [], returns: FFIType.i32 },
  stt_load: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr],
    returns: FFIType.i32,
  },
  stt_release: { args: [FFIType.ptr], returns: FFIType.i32 },
  stt_model_info: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  stt_model_describe: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  stt_transcribe: {
    args: [
      FFIType.ptr, // model
      FFIType.ptr, // samples
      FFIType.ptr, // lengths
      FFIType.i32, // n_items
      FFIType.ptr, // languages
      FFIType.i32, // task
      FFIType.i32, // beam_size
      FFIType.i32, // max_new_tokens
      FFIType.ptr, // prompt_ids
      FFIType.i32, // n_prompt_ids
      FFIType.ptr, // suppress_ids
      FFIType.i32, // n_suppress_ids
      FFIType.ptr, // prefix_ids
      FFIType.ptr, // prefix_lengths
      FFIType.f32, // temperature
      FFIType.i32, // flags
      FFIType.ptr, // out_json
    ],
    returns: FFIType.i32,
  },
  stt_detect_language: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr],
    returns: FFIType.i32,
  },
  stt_log_mel: {
    args: [FFIType.i32, FFIType.ptr, FFIType.i64, FFIType.i32, FFIType.ptr, FFIType.i64, FFIType.ptr],
    returns: FFIType.i32,
  },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | null = null;

function L(): Lib {
  if (lib) return lib;
  if (!existsSync(LIB_PATH)) {
    throw new SttError(0, `native library not found at ${LIB_PATH}: run bash scripts/setup.sh`, "library_missing");
  }
  checkAbi();
  try {
    lib = dlopen(LIB_PATH, symbols).symbols;
  } catch (e) {
    throw new SttError(0, `cannot load ${LIB_PATH} (${(e as Error).message}): run bash scripts/setup.sh`, "library_missing");
  }
  return lib;
}

/**
 * The library's ABI version must be the one these bindings are written for:
 * a stale build would otherwise be called with the wrong arguments. Asked on
 * its own, before any other symbol is bound.
 */
function checkAbi(): void {
  let found: number;
  try {
    const probe = dlopen(LIB_PATH, { stt_abi_version: symbols.stt_abi_version });
    found = probe.symbols.stt_abi_version();
    probe.close();
  } catch (e) {
    throw new SttError(
      0,
      `${LIB_PATH} has no stt_abi_version (${(e as Error).message}): it predates ABI ${ABI_VERSION}; rebuild it with bash native/build.sh (or bash scripts/setup.sh)`,
      "abi_mismatch",
    );
  }
  if (found !== ABI_VERSION) {
    throw new SttError(
      0,
      `${LIB_PATH} has ABI version ${found} but ffi/sttwhisper.ts expects ${ABI_VERSION}: rebuild it with bash native/build.sh (or bash scripts/setup.sh)`,
      "abi_mismatch",
    );
  }
}

function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

function check(status: number): void {
  if (status === 0) return;
  const l = L();
  const msg = String(l.stt_last_error() ?? "") || `sttwhisper error ${status}`;
  throw new SttError(status, msg);
}

/** Reads and frees a shim-allocated JSON string from an out-pointer cell. */
function takeJson<T>(cell: BigUint64Array): T {
  const p = Number(cell[0]) as Pointer;
  if (!p) throw new SttError(9, "shim returned no JSON");
  try {
    return JSON.parse(String(new CString(p))) as T;
  } finally {
    L().stt_free(p);
  }
}

export type ModelHandle = Pointer;

export interface LoadOptions {
  modelDir: string;
  device: "cpu" | "cuda" | "auto";
  computeType: string;
  deviceIndex: number;
  intraThreads: number;
  interThreads: number;
}

export interface ModelDescription {
  multilingual: boolean;
  n_mels: number;
  device: "cpu" | "cuda";
  device_index: number;
  compute_type: string;
  num_languages: number;
  vocab_size: number;
  refcount: number;
  eot: number;
  sot: number;
  no_timestamps: number;
  suppress_ids: number[];
}

export interface NativeResult {
  tokens: number[];
  text: string;
  avg_logprob: number;
  no_speech_prob: number;
  language: string;
  language_probability: number;
  windows: number;
  /** Per text token [start s, end s, probability]; only when word timestamps were asked for. */
  token_times?: [number, number, number][];
}

/** Flag bits of stt_transcribe (native/include/sttwhisper.h). */
export const FLAG_WORD_TIMESTAMPS = 1;
export const FLAG_SHORT_WINDOW = 2;

export interface TranscribeOptions {
  /** Per item: ISO code or null/"" to detect. Omit to detect all. */
  languages?: (string | null | undefined)[];
  task?: "transcribe" | "translate";
  beamSize?: number;
  maxNewTokens?: number;
  promptIds?: readonly number[] | null;
  /** Token ids to suppress; empty/omitted = model config's suppress_ids (CTranslate2's -1). */
  suppressIds?: number[] | null;
  /** Per item: text tokens the decoder is forced to start with (null/empty = none). */
  prefixes?: (readonly number[] | null)[];
  /** 0 (default) = deterministic; > 0 samples at this temperature. */
  temperature?: number;
  /** Per-token timings from cross-attention alignment. */
  wordTimestamps?: boolean;
  /** Encoder window trimmed to the content (interims only). */
  shortWindow?: boolean;
}

export interface DetectResult {
  language: string;
  probability: number;
  top: [string, number][];
}

/** The loaded library's STT_ABI_VERSION (equal to ABI_VERSION once loaded). */
export function abiVersion(): number {
  return L().stt_abi_version();
}

export function version(): string {
  return String(L().stt_version());
}

/** CUDA devices CTranslate2 sees; 0 on a machine without one. */
export function cudaDeviceCount(): number {
  return L().stt_cuda_device_count();
}

export function modelsConstructed(): number {
  return L().stt_models_constructed();
}

export function load(o: LoadOptions): ModelHandle {
  const l = L();
  const cell = new BigUint64Array(1);
  check(
    l.stt_load(cstr(o.modelDir), cstr(o.device), cstr(o.computeType), o.deviceIndex | 0, o.intraThreads | 0, o.interThreads | 0, cell),
  );
  const p = Number(cell[0]) as Pointer;
  if (!p) throw new SttError(9, "stt_load returned no handle");
  return p;
}

export function release(model: ModelHandle): void {
  check(L().stt_release(model));
}

export function modelInfo(model: ModelHandle): { multilingual: boolean; nMels: number; cuda: boolean; refcount: number } {
  const out = new Int32Array(4);
  check(L().stt_model_info(model, out.subarray(0, 1), out.subarray(1, 2), out.subarray(2, 3), out.subarray(3, 4)));
  return { multilingual: out[0] === 1, nMels: out[1] ?? 0, cuda: out[2] === 1, refcount: out[3] ?? 0 };
}

export function describe(model: ModelHandle): ModelDescription {
  const cell = new BigUint64Array(1);
  check(L().stt_model_describe(model, cell));
  return takeJson<ModelDescription>(cell);
}

/**
 * Concatenates utterances into the shim's (samples, lengths) layout. The
 * length cap is per utterance: a batch may hold more audio in all.
 */
function pack(audios: Float32Array[]): { samples: Float32Array; lengths: BigInt64Array } {
  let total = 0;
  audios.forEach((a, i) => {
    if (a.length > MAX_SAMPLES) {
      throw new SttError(2, `utterance ${i} too long: at most ${MAX_SAMPLES} samples (10 min at 16 kHz) per utterance`);
    }
    total += a.length;
  });
  const samples = new Float32Array(Math.max(1, total));
  const lengths = new BigInt64Array(Math.max(1, audios.length));
  let off = 0;
  audios.forEach((a, i) => {
    samples.set(a, off);
    off += a.length;
    lengths[i] = BigInt(a.length);
  });
  return { samples, lengths };
}

/** `encodes`: encoder runs the call made (detection shares its decode's, sttwhisper.h). */
export function transcribe(model: ModelHandle, audios: Float32Array[], o: TranscribeOptions = {}): { results: NativeResult[]; ms: number; encodes: number } {
  const { samples, lengths } = pack(audios);
  const langs = o.languages ? cstr(o.languages.map((x) => x ?? "").join(",")) : null;
  const prompt = o.promptIds && o.promptIds.length > 0 ? Int32Array.from(o.promptIds) : null;
  const suppress = o.suppressIds && o.suppressIds.length > 0 ? Int32Array.from(o.suppressIds) : null;
  let prefixIds: Int32Array | null = null;
  let prefixLengths: Int32Array | null = null;
  if (o.prefixes?.some((p) => p && p.length > 0)) {
    prefixLengths = Int32Array.from(audios.map((_, i) => o.prefixes![i]?.length ?? 0));
    prefixIds = Int32Array.from(audios.flatMap((_, i) => [...(o.prefixes![i] ?? [])]));
    if (prefixIds.length === 0) prefixIds = new Int32Array(1);
  }
  const flags = (o.wordTimestamps ? FLAG_WORD_TIMESTAMPS : 0) | (o.shortWindow ? FLAG_SHORT_WINDOW : 0);
  const cell = new BigUint64Array(1);
  check(
    L().stt_transcribe(
      model,
      samples,
      lengths,
      audios.length,
      langs,
      o.task === "translate" ? 1 : 0,
      o.beamSize ?? 1,
      o.maxNewTokens ?? 200,
      prompt,
      prompt?.length ?? 0,
      suppress,
      suppress?.length ?? 0,
      prefixIds,
      prefixLengths,
      o.temperature ?? 0,
      flags,
      cell,
    ),
  );
  return takeJson<{ results: NativeResult[]; ms: number; encodes: number }>(cell);
}

export function detectLanguage(model: ModelHandle, audios: Float32Array[], topK = 3): DetectResult[] {
  const { samples, lengths } = pack(audios);
  const cell = new BigUint64Array(1);
  check(L().stt_detect_language(model, samples, lengths, audios.length, topK, cell));
  return takeJson<{ results: DetectResult[] }>(cell).results;
}

/** faster-whisper FeatureExtractor(audio, padding) as [nMels][frames] (row-major). */
export function logMel(audio: Float32Array, nMels: number, padding = 160): { data: Float32Array; frames: number } {
  const l = L();
  const framesCell = new BigInt64Array(1);
  const src = audio.length > 0 ? audio : new Float32Array(1);
  check(l.stt_log_mel(nMels, src, audio.length, padding, null, 0, framesCell));
  const frames = Number(framesCell[0]);
  const data = new Float32Array(Math.max(1, frames * nMels));
  check(l.stt_log_mel(nMels, src, audio.length, padding, data, data.length, framesCell));
  return { data: frames * nMels === data.length ? data : data.subarray(0, frames * nMels), frames };
}
