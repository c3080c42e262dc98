/*
 * sttwhisper.h — C ABI over CTranslate2's Whisper for the Bun speech-to-text
 * server (called through bun:ffi from several Bun worker threads).
 *
 * Conventions
 * -----------
 * - Every function that can fail returns an stt_status (int32). STT_OK is 0.
 *   On failure the code and a human-readable message are also kept in
 *   thread-local storage: stt_last_error_code() / stt_last_error(). They are
 *   only meaningful right after a failed call on the same thread.
 * - C++ exceptions never cross this boundary; every one is caught and turned
 *   into a status code.
 * - Only scalars and pointers cross the boundary (no struct by value) so that
 *   bun:ffi can call every function. Multi-valued results come back either
 *   through out-pointers or as a NUL-terminated UTF-8 JSON string.
 * - Buffer ownership: input buffers are owned by the caller and only read
 *   during the call. JSON strings returned through `char** out_json` are
 *   allocated by the shim and MUST be freed with stt_free(). The pointer from
 *   stt_last_error() is owned by the shim (thread-local), valid until the next
 *   shim call on the same thread; do not free it.
 * - Audio is 16 kHz mono float32 in [-1, 1]. Samples that are NaN or ±Inf are
 *   REJECTED (STT_E_INVALID_AUDIO, message names the utterance and sample
 *   index) rather than silently sanitized: they always mean an upstream bug.
 *   Empty utterances (0 samples) and utterances longer than
 *   STT_MAX_SAMPLES are rejected the same way.
 *
 * Model sharing
 * -------------
 * Bun workers are threads of one process and dlopen returns the same library
 * to each, so the shim keeps one process-wide cache of loaded models keyed by
 * (canonical model dir, resolved device, compute type string, device index).
 * stt_load() on an already loaded key returns the SAME handle and increments
 * its reference count (the thread settings of the first load win);
 * stt_release() decrements it and frees the model at zero. Handles are safe to
 * use from several threads at once: CTranslate2 queues concurrent calls onto
 * its replicas (inter_threads of them).
 *
 * Decoding (mirrors faster-whisper 1.2.1 transcribe() with beam_size=N,
 * temperature=0 by default, without_timestamps=True, condition_on_previous_text=False,
 * suppress_blank=True; see docs/engine.md):
 * - features: FeatureExtractor(audio, padding=160), last frame dropped,
 *   per 30 s window padded/trimmed to 3000 frames with zeros; audio longer
 *   than 30 s is decoded as consecutive 30 s windows whose tokens are joined.
 * - prompt: [<|startofprev|> + prompt_ids (last 223)] + <|startoftranscript|>
 *   (+ <|lang|> <|task|> on multilingual models) + <|notimestamps|>.
 * - language detection (multilingual models, language not given): on the
 *   first 3000 frames of the features (including the last frame), top-1.
 */
#ifndef STTWHISPER_H
#define STTWHISPER_H

#include <stdint.h>

#if defined(_WIN32)
#define STT_API __declspec(dllexport)
#else
#define STT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Stable numbers: the TypeScript side maps them to names. */
typedef enum stt_status {
  STT_OK = 0,
  /** A pointer was NULL, a count was out of range, a string was not a known
   *  device / compute type / task / language, or max_new_tokens does not fit. */
  STT_E_INVALID_ARGUMENT = 1,
  /** Audio rejected: empty, longer than STT_MAX_SAMPLES, or NaN/Inf samples. */
  STT_E_INVALID_AUDIO = 2,
  /** The model directory or its model.bin does not exist. */
  STT_E_MODEL_NOT_FOUND = 3,
  /** model.bin exists but could not be loaded (truncated, corrupt, wrong
   *  format, unsupported compute type on this device). */
  STT_E_MODEL_LOAD = 4,
  /** device "cuda" was asked for but no CUDA device is visible. Message:
   *  no CUDA device: set device to "cpu" (or "auto") */
  STT_E_NO_CUDA = 5,
  /** The handle is not a live model (never loaded or already released). */
  STT_E_BAD_HANDLE = 6,
  /** CTranslate2 failed while encoding / decoding. */
  STT_E_INFERENCE = 7,
  /** Memory allocation failed. */
  STT_E_OUT_OF_MEMORY = 8,
  /** Anything else (a bug). */
  STT_E_INTERNAL = 9
} stt_status;

/** ABI version: bumped whenever a function's signature or meaning changes.
 *  Callers check stt_abi_version() against the value they were written for
 *  before calling anything else (ffi/sttwhisper.ts does, at load). */
#define STT_ABI_VERSION 2

/** Longest accepted utterance: 10 minutes at 16 kHz. Per utterance, not per
 *  call: a batch may hold up to STT_MAX_BATCH utterances of this length. */
#define STT_MAX_SAMPLES 9600000
/** Most utterances in one stt_transcribe / stt_detect_language call. */
#define STT_MAX_BATCH 256
/** Whisper's hard decoder length (prompt + generated tokens). */
#define STT_MAX_LENGTH 448

/** stt_transcribe flags (bitwise OR). */
/** Also return per-token timings (cross-attention DTW, CTranslate2's Whisper::align)
 *  computed on the same encoder output as the decode. */
#define STT_FLAG_WORD_TIMESTAMPS 1
/** Encode a window trimmed to the chunk's longest content plus 3 s of silence
 *  (rounded up to whole seconds, at most 30 s) instead of Whisper's 30 s.
 *  Cheaper, less robust: meant for interim hypotheses, never for finals. */
#define STT_FLAG_SHORT_WINDOW 2

/** Opaque model handle. */
typedef struct stt_model stt_model;

/** STT_ABI_VERSION of the built library. Never fails. */
STT_API int32_t stt_abi_version(void);

/** Library version string, e.g. "sttwhisper 2 (ctranslate2 4.8.4)". Static; do not free.
 *  Never fails. */
STT_API const char* stt_version(void);

/** CUDA devices CTranslate2 can see (0 without a driver, or in a CPU-only
 *  build). Never fails. Lets a caller size its worker pool before stt_load. */
STT_API int32_t stt_cuda_device_count(void);

/** Code of the last failure on this thread (STT_OK if none yet). Never fails. */
STT_API int32_t stt_last_error_code(void);
/** Message of the last failure on this thread ("" if none). Owned by the shim. Never fails. */
STT_API const char* stt_last_error(void);

/** Frees a string returned by the shim through an out_json parameter. NULL is a no-op. Never fails. */
STT_API void stt_free(void* ptr);

/**
 * Loads (or re-uses) a CTranslate2 Whisper model.
 *  model_dir     directory holding model.bin + config.json + vocabulary.
 *  device        "cpu", "cuda" or "auto" (cuda when a CUDA device is visible).
 *  compute_type  "default" (int8 on cpu, float16 on cuda) or any CTranslate2
 *                name: "int8", "int8_float32", "int8_float16", "float16",
 *                "bfloat16", "float32", "auto".
 *  device_index  GPU index (ignored on cpu).
 *  intra_threads threads per replica for CPU compute; 0 = CTranslate2 default.
 *  inter_threads replicas (parallel model calls); >= 1.
 *  out_model     receives the handle (set to NULL on failure).
 * Errors: INVALID_ARGUMENT (a NULL pointer, a count out of range, unknown
 *         device / compute type), NO_CUDA (cuda asked for, or device_index
 *         past the visible devices), MODEL_NOT_FOUND, MODEL_LOAD,
 *         OUT_OF_MEMORY, INTERNAL.
 */
STT_API int32_t stt_load(const char* model_dir, const char* device, const char* compute_type,
                         int32_t device_index, int32_t intra_threads, int32_t inter_threads,
                         stt_model** out_model);

/** Drops one reference; frees the model when the count reaches zero.
 *  Errors: BAD_HANDLE (NULL, never loaded or already released), INTERNAL. */
STT_API int32_t stt_release(stt_model* model);

/**
 * Static facts. Any out-pointer may be NULL.
 *  out_multilingual  1 for multilingual models, 0 for English-only.
 *  out_n_mels        80 or 128.
 *  out_is_cuda       1 when running on CUDA.
 *  out_refcount      current number of stt_load references to this handle.
 * Errors: BAD_HANDLE, INTERNAL.
 */
STT_API int32_t stt_model_info(const stt_model* model, int32_t* out_multilingual, int32_t* out_n_mels,
                               int32_t* out_is_cuda, int32_t* out_refcount);

/**
 * Same facts plus more as JSON (free with stt_free):
 * {"multilingual":bool,"n_mels":int,"device":"cpu"|"cuda","device_index":int,
 *  "compute_type":"int8",  // effective CTranslate2 compute type
 *  "num_languages":int,"vocab_size":int,"refcount":int,
 *  "eot":int,"sot":int,"no_timestamps":int,"suppress_ids":[int...]}
 * Errors: INVALID_ARGUMENT (out_json NULL), BAD_HANDLE, OUT_OF_MEMORY, INTERNAL.
 */
STT_API int32_t stt_model_describe(const stt_model* model, char** out_json);

/** How many times a model was actually constructed in this process (cache misses). Never fails. */
STT_API int32_t stt_models_constructed(void);

/**
 * Transcribes a batch of utterances in one CTranslate2 call.
 *  samples         all utterances' samples back to back (float32, 16 kHz mono).
 *  lengths         n_items sample counts (each 1..STT_MAX_SAMPLES).
 *  n_items         1..STT_MAX_BATCH.
 *  languages       NULL (detect all) or n_items codes separated by ',' — an empty
 *                  item means detect; ignored (always "en") by English-only models.
 *                  An item is detected on the encoder output of its first
 *                  window, which its decode then reads too (one encoder run);
 *                  with STT_FLAG_SHORT_WINDOW it is detected on a full window
 *                  of its own first, as stt_detect_language does.
 *  task            0 = transcribe, 1 = translate (ignored by English-only models).
 *  beam_size       >= 1 (1 = greedy).
 *  max_new_tokens  >= 1; prompt length + max_new_tokens must be <= 448.
 *  prompt_ids      optional previous-text tokens (NULL / 0): placed after
 *                  <|startofprev|>; only the last 223 are used.
 *  suppress_ids    token ids to suppress (NULL / 0 = CTranslate2's -1, which is
 *                  the model's config.json suppress_ids).
 *  prefix_ids      optional forced decoder prefix, all items' ids back to back
 *                  (text tokens only, < eot); read only when prefix_lengths is
 *                  not NULL. The decoder must start the item's first window
 *                  with exactly these tokens (faster-whisper's `prefix`); they
 *                  are part of the returned tokens and text.
 *  prefix_lengths  NULL (no prefixes) or n_items counts (each 0..224).
 *                  prompt + longest prefix + max_new_tokens must be <= 448.
 *  temperature     0 = deterministic (greedy or beam_size); (0, 2] = sampling
 *                  from the whole distribution at that temperature, beam 1
 *                  (faster-whisper's temperature fallback).
 *  flags           STT_FLAG_* bits; other bits are INVALID_ARGUMENT.
 *  out_json        receives (free with stt_free):
 *   {"results":[{"tokens":[int...],"text":"...","avg_logprob":f,
 *                "no_speech_prob":f,"language":"en","language_probability":f,
 *                "windows":int, "token_times":[[start,end,prob]...]?}...],
 *    "ms":f,"encodes":int}
 *   encodes: encoder runs over the batch's windows (one per CTranslate2
 *   call of up to 32 windows, plus one for items detected on their own).
 *   token_times only with STT_FLAG_WORD_TIMESTAMPS: one entry per token id
 *   below eot, in order; seconds from the utterance's first sample, clamped
 *   to its content; prob = the token's probability under teacher forcing.
 *   results are in input order; tokens exclude prompt and end-of-text; text is
 *   the byte-level BPE decode of tokens < eot, trimmed, invalid UTF-8 replaced
 *   with U+FFFD. Utterances shorter than one feature frame (< 160 samples)
 *   give an empty result without decoding (as faster-whisper does).
 * Errors: INVALID_ARGUMENT (out_json / samples / lengths NULL, n_items, task,
 *         beam_size, max_new_tokens, prompt / suppress / prefix ids, unknown
 *         language, flags or temperature out of range), BAD_HANDLE,
 *         INVALID_AUDIO (an empty utterance, one over STT_MAX_SAMPLES, NaN /
 *         Inf samples; the message names the utterance), INFERENCE
 *         (CTranslate2 failed), OUT_OF_MEMORY, INTERNAL.
 */
STT_API int32_t stt_transcribe(stt_model* model, const float* samples, const int64_t* lengths,
                               int32_t n_items, const char* languages, int32_t task, int32_t beam_size,
                               int32_t max_new_tokens, const int32_t* prompt_ids, int32_t n_prompt_ids,
                               const int32_t* suppress_ids, int32_t n_suppress_ids,
                               const int32_t* prefix_ids, const int32_t* prefix_lengths,
                               float temperature, int32_t flags, char** out_json);

/**
 * Language detection only (multilingual models; English-only models answer
 * "en" with probability 1). Same audio layout as stt_transcribe.
 *  top_k     how many (language, probability) pairs to list per item (>= 1).
 *  out_json  {"results":[{"language":"de","probability":f,"top":[["de",f],...]}...]}
 * Errors: INVALID_ARGUMENT (out_json / samples / lengths NULL, n_items,
 *         top_k < 1), BAD_HANDLE, INVALID_AUDIO, INFERENCE, OUT_OF_MEMORY, INTERNAL.
 */
STT_API int32_t stt_detect_language(stt_model* model, const float* samples, const int64_t* lengths,
                                    int32_t n_items, int32_t top_k, char** out_json);

/**
 * Log-mel spectrogram exactly as faster-whisper's FeatureExtractor(audio,
 * padding): audio + `padding` zeros, periodic Hann(400), reflect-padded
 * centered STFT (hop 160), |X|^2, slaney mel filterbank, log10(max(x,1e-10)),
 * floor at max-8, (x+4)/4; the last STFT frame is dropped.
 *  n_mels        80 or 128.
 *  n_samples     >= 1, <= STT_MAX_SAMPLES; padding in [0, 16000].
 *  out           row-major [n_mels][frames] float32, caller-owned; may be NULL
 *                to query the frame count only.
 *  out_capacity  number of floats `out` can hold (>= n_mels * frames).
 *  out_frames    receives frames = (n_samples + padding) / 160.
 * Errors: INVALID_ARGUMENT (n_mels, padding, samples NULL, out_capacity too
 *         small), INVALID_AUDIO (n_samples out of range, NaN / Inf samples),
 *         OUT_OF_MEMORY, INTERNAL.
 */
STT_API int32_t stt_log_mel(int32_t n_mels, const float* samples, int64_t n_samples, int32_t padding,
                            float* out, int64_t out_capacity, int64_t* out_frames);

#ifdef __cplusplus
}
#endif

#endif /* STTWHISPER_H */
