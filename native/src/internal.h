// Internal declarations shared by the shim's translation units.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ctranslate2/models/whisper.h>

#include "sttwhisper.h"

namespace ct2 = ctranslate2;

// A loaded model: one per (model dir, device, compute type, device index),
// shared by every caller in the process (registry.cpp).
struct stt_model {
  std::string key;
  int refcount = 0;
  std::unique_ptr<ct2::models::Whisper> pool;
  std::shared_ptr<const ct2::models::WhisperModel> model;
  bool multilingual = false;
  int n_mels = 80;
  bool cuda = false;
  int device_index = 0;
  std::string compute_type;
  size_t num_languages = 0;
  size_t vocab_size = 0;
  size_t sot = 0, eot = 0, no_timestamps = 0, transcribe = 0, translate = 0, sot_prev = 0;
  std::vector<int> config_suppress;
  std::vector<std::string> bytes;  // id -> decoded bytes (ids < eot)
};

namespace sttw {

// --- errors (errors.cpp) ---------------------------------------------------
struct SttError : std::runtime_error {
  int32_t code;
  SttError(int32_t c, const std::string& m) : std::runtime_error(m), code(c) {}
};

[[noreturn]] void fail(int32_t code, const std::string& msg);
// Records a failure for stt_last_error*(); returns code.
int32_t set_error(int32_t code, const std::string& msg);
// Clears the thread's last error before a call.
void clear_error();
int32_t last_error_code();
const char* last_error();

// Runs f, turning every exception into a status code (never lets one cross the C ABI).
template <typename F>
int32_t guarded(F&& f) {
  clear_error();
  try {
    f();
    return STT_OK;
  } catch (const SttError& e) {
    return set_error(e.code, e.what());
  } catch (const std::bad_alloc&) {
    return set_error(STT_E_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return set_error(STT_E_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return set_error(STT_E_INTERNAL, "internal error: unknown exception");
  }
}

// --- text helpers (text.cpp) -----------------------------------------------
// malloc'd copy for out_json (freed by stt_free).
char* dup_string(const std::string& s);
std::string lower(std::string s);
std::string trim(const std::string& s);
// A vocabulary token's raw bytes (GPT-2 byte-level BPE decode).
std::string token_bytes(const std::string& tok);

// --- model registry (registry.cpp) -----------------------------------------
// Throws STT_E_BAD_HANDLE unless m is a live handle.
void check_handle(const stt_model* m);

// --- audio and features (audio.cpp, mel.cpp) --------------------------------
constexpr int64_t kWindow = 3000;  // frames per 30 s window

struct Utterance {
  const float* samples;
  int64_t n;
  std::vector<float> feats;  // [n_mels][frames]; filled on demand, freed after its last window
  int64_t frames = 0;
};

// Splits the (samples, lengths) layout into utterances; validates counts,
// the per-utterance length cap and finiteness.
std::vector<Utterance> read_audio(const float* samples, const int64_t* lengths, int32_t n_items);
// Computes u's features unless present.
void ensure_features(Utterance& u, int n_mels);
// Copies frames [from, from+count) of u into a zero-padded window of `width` frames at dst.
void copy_window(const Utterance& u, int n_mels, int64_t from, int64_t count, int64_t width, float* dst);

// Number of feature frames FeatureExtractor(audio, padding) returns.
int64_t mel_frames(int64_t n_samples, int padding);

// Fills out (row-major [n_mels][frames]) with faster-whisper's log-mel
// features; throws std::invalid_argument on a bad n_mels.
void log_mel(const float* samples, int64_t n_samples, int padding, int n_mels, std::vector<float>& out,
             int64_t& frames);

// --- language detection (detect.cpp) ---------------------------------------
struct Detected {
  std::string language;
  float probability = 1.0f;
  std::vector<std::pair<std::string, float>> top;
};

// faster-whisper's detect_language on the first 30 s of each item's features.
std::vector<Detected> detect(stt_model* m, const std::vector<Utterance*>& items);
// The same on input rows that are full 30 s windows of features, or the
// encoder's output for such windows (then the encoder does not run again).
std::vector<Detected> detect_encoded(stt_model* m, const ct2::StorageView& input);

// --- word timings (align.cpp) -----------------------------------------------
// One decoding job: a 30 s window (or less) of one utterance's features.
struct Job {
  int item;
  int64_t seek;
  int64_t size;
};

// Rows idx (increasing row numbers) of a batch of windows, features or
// encoder output: a copy, or the batch itself when idx holds every row.
ct2::StorageView rows(const ct2::StorageView& batch, const std::vector<size_t>& idx);

// Text tokens of a generated sequence (timestamp and special ids removed).
std::vector<size_t> text_tokens(const stt_model* m, const std::vector<size_t>& seq);

// Cross-attention DTW for a chunk of jobs [c0, c0 + cn) decoded together.
void align_words(stt_model* m, const ct2::StorageView& encoded, const std::vector<std::vector<size_t>>& sot_seqs,
                 const std::vector<ct2::models::WhisperGenerationResult>& results, const std::vector<Job>& jobs,
                 size_t c0, size_t cn, std::vector<ct2::models::WhisperAlignmentResult>& out);

// Per text token [start_s, end_s, probability] of one window.
struct TokenTime {
  double start, end, prob;
};
void append_token_times(const stt_model* m, const std::vector<size_t>& seq,
                        const ct2::models::WhisperAlignmentResult& al, int64_t seek, int64_t size,
                        std::vector<TokenTime>& out);

}  // namespace sttw
