// C ABI over CTranslate2's Whisper: see native/include/sttwhisper.h for the contract.
#include "sttwhisper.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctranslate2/devices.h>
#include <ctranslate2/models/whisper.h>
#include <ctranslate2/ops/gather.h>
#include <ctranslate2/types.h>
#include <nlohmann/json.hpp>

#include "internal.h"

namespace ct2 = ctranslate2;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------
namespace {

thread_local int32_t g_last_code = STT_OK;
thread_local std::string g_last_msg;

struct SttError : std::runtime_error {
  int32_t code;
  SttError(int32_t c, const std::string& m) : std::runtime_error(m), code(c) {}
};

[[noreturn]] void fail(int32_t code, const std::string& msg) { throw SttError(code, msg); }

int32_t set_error(int32_t code, const std::string& msg) {
  g_last_code = code;
  g_last_msg = msg;
  return code;
}

template <typename F>
int32_t guarded(F&& f) {
  g_last_code = STT_OK;
  g_last_msg.clear();
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

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size() + 1);
  return p;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// GPT-2 byte-level BPE: unicode code point -> byte (inverse of bytes_to_unicode).
const std::vector<int>& byte_decoder() {
  static const std::vector<int> table = [] {
    std::vector<int> dec(512, -1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      if (printable) {
        dec[b] = b;
      } else {
        dec[256 + n] = b;
        ++n;
      }
    }
    return dec;
  }();
  return table;
}

std::string token_bytes(const std::string& tok) {
  const auto& dec = byte_decoder();
  std::string out;
  size_t i = 0;
  while (i < tok.size()) {
    const unsigned char c = static_cast<unsigned char>(tok[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 0x6 && i + 1 < tok.size()) { cp = ((c & 0x1F) << 6) | (tok[i + 1] & 0x3F); len = 2; }
    else { return tok; }  // not a byte-level token (never happens below eot)
    if (cp >= dec.size() || dec[cp] < 0) return tok;
    out.push_back(static_cast<char>(dec[cp]));
    i += len;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Model registry
// ---------------------------------------------------------------------------
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

namespace {
std::mutex g_registry_mu;
std::map<std::string, stt_model*> g_by_key;
std::set<const stt_model*> g_live;
int32_t g_constructed = 0;

void check_handle(const stt_model* m) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (!m || !g_live.count(m)) fail(STT_E_BAD_HANDLE, "invalid model handle (not loaded or already released)");
}

size_t vocab_id(const ct2::Vocabulary& v, const std::string& tok) {
  if (!v.contains(tok)) fail(STT_E_MODEL_LOAD, "vocabulary lacks special token " + tok);
  return v.to_id(tok);
}
}  // namespace

extern "C" {

STT_API const char* stt_version(void) { return "sttwhisper 1 (ctranslate2 4.8.4)"; }

STT_API int32_t stt_cuda_device_count(void) {
  try {
    return ct2::get_device_count(ct2::Device::CUDA);
  } catch (...) {
    return 0;  // no driver, or a CPU-only CTranslate2
  }
}
STT_API int32_t stt_last_error_code(void) { return g_last_code; }
STT_API const char* stt_last_error(void) { return g_last_msg.c_str(); }
STT_API void stt_free(void* ptr) { std::free(ptr); }
STT_API int32_t stt_models_constructed(void) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  return g_constructed;
}

STT_API int32_t stt_load(const char* model_dir, const char* device, const char* compute_type,
                         int32_t device_index, int32_t intra_threads, int32_t inter_threads,
                         stt_model** out_model) {
  if (out_model) *out_model = nullptr;
  return guarded([&] {
    if (!model_dir || !device || !compute_type || !out_model)
      fail(STT_E_INVALID_ARGUMENT, "stt_load: model_dir, device, compute_type and out_model must not be NULL");
    if (device_index < 0) fail(STT_E_INVALID_ARGUMENT, "device_index must be >= 0");
    if (intra_threads < 0 || intra_threads > 1024) fail(STT_E_INVALID_ARGUMENT, "intra_threads must be in [0, 1024]");
    if (inter_threads < 1 || inter_threads > 64) fail(STT_E_INVALID_ARGUMENT, "inter_threads must be in [1, 64]");

    const std::string dev = lower(device);
    if (dev != "cpu" && dev != "cuda" && dev != "auto")
      fail(STT_E_INVALID_ARGUMENT, "unknown device \"" + std::string(device) + "\" (expected cpu, cuda or auto)");
    const int cuda_count = stt_cuda_device_count();
    bool use_cuda = dev == "cuda" || (dev == "auto" && cuda_count > 0);
    if (use_cuda && cuda_count <= 0) fail(STT_E_NO_CUDA, "no CUDA device: set device to \"cpu\" (or \"auto\")");
    if (use_cuda && device_index >= cuda_count)
      fail(STT_E_NO_CUDA, "device_index " + std::to_string(device_index) + " but only " +
                              std::to_string(cuda_count) + " CUDA device(s) are visible");

    std::string ct = lower(compute_type);
    if (ct.empty() || ct == "default") ct = use_cuda ? "float16" : "int8";
    ct2::ComputeType ctype;
    try {
      ctype = ct2::str_to_compute_type(ct);
    } catch (const std::exception& e) {
      fail(STT_E_INVALID_ARGUMENT, "unknown compute_type \"" + std::string(compute_type) + "\"");
    }

    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(model_dir, ec))
      fail(STT_E_MODEL_NOT_FOUND, "model directory not found: " + std::string(model_dir));
    if (!fs::is_regular_file(fs::path(model_dir) / "model.bin", ec))
      fail(STT_E_MODEL_NOT_FOUND, "no model.bin in " + std::string(model_dir));
    const std::string canon = fs::canonical(model_dir, ec).string();
    const int idx = use_cuda ? device_index : 0;
    const std::string key = canon + "|" + (use_cuda ? "cuda" : "cpu") + "|" + ct + "|" + std::to_string(idx);

    std::lock_guard<std::mutex> lock(g_registry_mu);  // held through loading: one load per key
    auto it = g_by_key.find(key);
    if (it != g_by_key.end()) {
      it->second->refcount++;
      *out_model = it->second;
      return;
    }

    auto m = std::make_unique<stt_model>();
    m->key = key;
    m->cuda = use_cuda;
    m->device_index = idx;
    std::vector<std::shared_ptr<const ct2::models::Model>> replicas;
    try {
      ct2::models::ModelLoader loader(canon);
      loader.device = use_cuda ? ct2::Device::CUDA : ct2::Device::CPU;
      loader.device_indices = {idx};
      loader.num_replicas_per_device = static_cast<size_t>(inter_threads);
      loader.compute_type = ctype;
      replicas = loader.load();
      m->model = std::dynamic_pointer_cast<const ct2::models::WhisperModel>(replicas.at(0));
      if (!m->model) fail(STT_E_MODEL_LOAD, "model in " + canon + " is not a Whisper model");
      ct2::ReplicaPoolConfig cfg;
      cfg.num_threads_per_replica = static_cast<size_t>(intra_threads);
      m->pool = std::make_unique<ct2::models::Whisper>(replicas, cfg);
    } catch (const SttError&) {
      throw;
    } catch (const std::bad_alloc&) {
      fail(STT_E_OUT_OF_MEMORY, "out of memory while loading " + canon);
    } catch (const std::exception& e) {
      fail(STT_E_MODEL_LOAD, "cannot load model from " + canon + ": " + e.what());
    }
    m->multilingual = m->pool->is_multilingual();
    m->n_mels = static_cast<int>(m->pool->n_mels());
    m->num_languages = m->pool->num_languages();
    m->compute_type = ct2::compute_type_to_str(m->model->effective_compute_type());
    const ct2::Vocabulary& vocab = m->model->get_vocabulary();
    m->vocab_size = vocab.size();
    m->sot = vocab_id(vocab, "<|startoftranscript|>");
    m->eot = vocab_id(vocab, "<|endoftext|>");
    m->no_timestamps = vocab_id(vocab, "<|notimestamps|>");
    m->transcribe = vocab_id(vocab, "<|transcribe|>");
    m->translate = vocab_id(vocab, "<|translate|>");
    m->sot_prev = vocab_id(vocab, "<|startofprev|>");
    if (m->model->config.contains("suppress_ids") && m->model->config["suppress_ids"].is_array())
      for (const auto& v : m->model->config["suppress_ids"]) m->config_suppress.push_back(v.get<int>());
    m->bytes.resize(m->eot);
    for (size_t i = 0; i < m->eot && i < vocab.size(); ++i) m->bytes[i] = token_bytes(vocab.to_token(i));
    m->refcount = 1;
    stt_model* raw = m.release();
    g_by_key[key] = raw;
    g_live.insert(raw);
    g_constructed++;
    *out_model = raw;
  });
}

STT_API int32_t stt_release(stt_model* model) {
  return guarded([&] {
    stt_model* doomed = nullptr;
    {
      std::lock_guard<std::mutex> lock(g_registry_mu);
      if (!model || !g_live.count(model)) fail(STT_E_BAD_HANDLE, "invalid model handle (not loaded or already released)");
      if (--model->refcount == 0) {
        g_live.erase(model);
        g_by_key.erase(model->key);
        doomed = model;
      }
    }
    delete doomed;
  });
}

STT_API int32_t stt_model_info(const stt_model* model, int32_t* out_multilingual, int32_t* out_n_mels,
                               int32_t* out_is_cuda, int32_t* out_refcount) {
  return guarded([&] {
    check_handle(model);
    if (out_multilingual) *out_multilingual = model->multilingual ? 1 : 0;
    if (out_n_mels) *out_n_mels = model->n_mels;
    if (out_is_cuda) *out_is_cuda = model->cuda ? 1 : 0;
    if (out_refcount) {
      std::lock_guard<std::mutex> lock(g_registry_mu);
      *out_refcount = model->refcount;
    }
  });
}

STT_API int32_t stt_model_describe(const stt_model* model, char** out_json) {
  if (out_json) *out_json = nullptr;
  return guarded([&] {
    if (!out_json) fail(STT_E_INVALID_ARGUMENT, "out_json must not be NULL");
    check_handle(model);
    int refcount;
    {
      std::lock_guard<std::mutex> lock(g_registry_mu);
      refcount = model->refcount;
    }
    json j = {{"multilingual", model->multilingual},
              {"n_mels", model->n_mels},
              {"device", model->cuda ? "cuda" : "cpu"},
              {"device_index", model->device_index},
              {"compute_type", model->compute_type},
              {"num_languages", model->num_languages},
              {"vocab_size", model->vocab_size},
              {"refcount", refcount},
              {"eot", model->eot},
              {"sot", model->sot},
              {"no_timestamps", model->no_timestamps},
              {"suppress_ids", model->config_suppress}};
    *out_json = dup_string(j.dump());
  });
}

}  // extern "C"

// ---------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------
namespace {

constexpr int64_t kWindow = 3000;  // frames per 30 s window
constexpr int64_t kShortWindowPad = 300;  // frames of silence after an interim's content

struct Utterance {
  const float* samples;
  int64_t n;
  std::vector<float> feats;  // [n_mels][frames]
  int64_t frames = 0;
};

std::vector<Utterance> read_audio(const float* samples, const int64_t* lengths, int32_t n_items) {
  if (!samples || !lengths) fail(STT_E_INVALID_ARGUMENT, "samples and lengths must not be NULL");
  if (n_items < 1 || n_items > STT_MAX_BATCH)
    fail(STT_E_INVALID_ARGUMENT, "n_items must be in [1, " + std::to_string(STT_MAX_BATCH) + "], got " + std::to_string(n_items));
  std::vector<Utterance> out(n_items);
  int64_t offset = 0;
  for (int32_t i = 0; i < n_items; ++i) {
    const int64_t n = lengths[i];
    if (n <= 0) fail(STT_E_INVALID_AUDIO, "utterance " + std::to_string(i) + " is empty (0 samples)");
    if (n > STT_MAX_SAMPLES || offset + n > STT_MAX_SAMPLES)
      fail(STT_E_INVALID_AUDIO, "audio too long: at most " + std::to_string(STT_MAX_SAMPLES) +
                                    " samples (10 min at 16 kHz) per call");
    out[i].samples = samples + offset;
    out[i].n = n;
    offset += n;
  }
  for (int32_t i = 0; i < n_items; ++i)
    for (int64_t k = 0; k < out[i].n; ++k)
      if (!std::isfinite(out[i].samples[k]))
        fail(STT_E_INVALID_AUDIO, "utterance " + std::to_string(i) + " sample " + std::to_string(k) +
                                      " is NaN or infinite (audio must be finite floats in [-1, 1])");
  return out;
}

// Copies frames [from, from+count) of u into a zero-padded window of `width` frames at dst.
void copy_window(const Utterance& u, int n_mels, int64_t from, int64_t count, int64_t width, float* dst) {
  std::fill(dst, dst + n_mels * width, 0.0f);
  for (int m = 0; m < n_mels; ++m)
    std::memcpy(dst + m * width, u.feats.data() + m * u.frames + from, sizeof(float) * count);
}

struct Detected {
  std::string language;
  float probability = 1.0f;
  std::vector<std::pair<std::string, float>> top;
};

// faster-whisper's detect_language(features=features) with one segment:
// pad_or_trim(features[:, :3000]) (the last frame included), top-1 language.
std::vector<Detected> detect(stt_model* m, const std::vector<Utterance*>& items) {
  std::vector<Detected> out(items.size());
  if (items.empty()) return out;
  const int nm = m->n_mels;
  ct2::StorageView feats({static_cast<ct2::dim_t>(items.size()), nm, kWindow}, 0.0f);
  float* base = feats.data<float>();
  for (size_t i = 0; i < items.size(); ++i)
    copy_window(*items[i], nm, 0, std::min<int64_t>(kWindow, items[i]->frames), kWindow, base + i * nm * kWindow);
  try {
    auto futures = m->pool->detect_language(feats);
    for (size_t i = 0; i < futures.size(); ++i) {
      auto res = futures[i].get();
      for (auto& [tok, p] : res) {
        const std::string code = tok.size() > 4 ? tok.substr(2, tok.size() - 4) : tok;
        out[i].top.emplace_back(code, p);
      }
      if (!out[i].top.empty()) {
        out[i].language = out[i].top[0].first;
        out[i].probability = out[i].top[0].second;
      }
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    fail(STT_E_INFERENCE, std::string("language detection failed: ") + e.what());
  }
  return out;
}

// One decoding job: a 30 s window (or less) of one utterance's features.
struct Job { int item; int64_t seek; int64_t size; };

// Text tokens of a generated sequence (timestamp and special ids removed).
std::vector<size_t> text_tokens(const stt_model* m, const std::vector<size_t>& seq) {
  std::vector<size_t> out;
  for (size_t t : seq)
    if (t < m->eot) out.push_back(t);
  return out;
}

// Cross-attention DTW over the decoded tokens (CTranslate2's Whisper::align),
// grouped by start sequence because one align call takes one. Items with no
// text tokens are skipped (nothing to time).
void align_words(stt_model* m, const ct2::StorageView& encoded, const std::vector<std::vector<size_t>>& sot_seqs,
                 const std::vector<ct2::models::WhisperGenerationResult>& results, const std::vector<Job>& jobs,
                 size_t c0, size_t cn, std::vector<ct2::models::WhisperAlignmentResult>& out) {
  std::map<std::vector<size_t>, std::vector<size_t>> groups;
  for (size_t j = 0; j < cn; ++j) {
    if (results[j].sequences_ids.empty() || text_tokens(m, results[j].sequences_ids[0]).empty()) continue;
    groups[sot_seqs[j]].push_back(j);
  }
  for (const auto& [sot_seq, idx] : groups) {
    std::vector<ct2::dim_t> rows(idx.begin(), idx.end());
    ct2::StorageView subset(encoded.dtype(), encoded.device());
    if (idx.size() == cn) {
      subset = encoded;
    } else {
      const ct2::StorageView index({static_cast<ct2::dim_t>(idx.size())},
                                   std::vector<int32_t>(idx.begin(), idx.end()), encoded.device());
      ct2::ops::Gather(0)(encoded, index, subset);
    }
    std::vector<std::vector<size_t>> tokens;
    std::vector<size_t> frames;
    for (size_t j : idx) {
      tokens.push_back(text_tokens(m, results[j].sequences_ids[0]));
      frames.push_back(static_cast<size_t>(jobs[c0 + j].size));
    }
    auto futures = m->pool->align(subset, sot_seq, tokens, frames, 7);
    for (size_t k = 0; k < idx.size(); ++k) out[idx[k]] = futures[k].get();
  }
}

// Per text token [start_s, end_s, probability], as faster-whisper's
// find_alignment: a token starts where the DTW path first reaches it and ends
// where the next token (or end-of-text) starts. Times are clamped to the window's content.
void append_token_times(const stt_model* m, const std::vector<size_t>& seq,
                        const ct2::models::WhisperAlignmentResult& al, int64_t seek, int64_t size, json& out) {
  const std::vector<size_t> text = text_tokens(m, seq);
  if (text.empty()) return;
  std::vector<double> jumps;  // one per token, then end-of-text
  int64_t last_text = -1;
  for (const auto& [ti, fi] : al.alignments) {
    if (ti != last_text) {
      jumps.push_back(static_cast<double>(fi) / 50.0);  // 50 encoder frames per second
      last_text = ti;
    }
  }
  const double offset = static_cast<double>(seek) / 100.0;
  const double limit = static_cast<double>(size) / 100.0;
  for (size_t i = 0; i < text.size(); ++i) {
    const double s = i < jumps.size() ? jumps[i] : (jumps.empty() ? 0.0 : jumps.back());
    const double e = i + 1 < jumps.size() ? jumps[i + 1] : limit;
    const double p = i < al.text_token_probs.size() ? al.text_token_probs[i] : 0.0;
    out.push_back(json::array({offset + std::min(s, limit), offset + std::min(std::max(e, s), limit), p}));
  }
}

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

extern "C" {

STT_API int32_t stt_transcribe(stt_model* m, const float* samples, const int64_t* lengths, int32_t n_items,
                               const char* languages, int32_t task, int32_t beam_size, int32_t max_new_tokens,
                               const int32_t* prompt_ids, int32_t n_prompt_ids, const int32_t* suppress_ids,
                               int32_t n_suppress_ids, const int32_t* prefix_ids, const int32_t* prefix_lengths,
                               float temperature, int32_t flags, char** out_json) {
  if (out_json) *out_json = nullptr;
  return guarded([&] {
    const auto t0 = std::chrono::steady_clock::now();
    if (!out_json) fail(STT_E_INVALID_ARGUMENT, "out_json must not be NULL");
    check_handle(m);
    std::vector<Utterance> utts = read_audio(samples, lengths, n_items);
    if (task != 0 && task != 1) fail(STT_E_INVALID_ARGUMENT, "task must be 0 (transcribe) or 1 (translate)");
    if (beam_size < 1 || beam_size > 64) fail(STT_E_INVALID_ARGUMENT, "beam_size must be in [1, 64]");
    if (n_prompt_ids < 0 || (n_prompt_ids > 0 && !prompt_ids)) fail(STT_E_INVALID_ARGUMENT, "bad prompt_ids");
    if (n_suppress_ids < 0 || (n_suppress_ids > 0 && !suppress_ids)) fail(STT_E_INVALID_ARGUMENT, "bad suppress_ids");
    if ((flags & ~(STT_FLAG_WORD_TIMESTAMPS | STT_FLAG_SHORT_WINDOW)) != 0) fail(STT_E_INVALID_ARGUMENT, "unknown flags");
    if (!std::isfinite(temperature) || temperature < 0 || temperature > 2)
      fail(STT_E_INVALID_ARGUMENT, "temperature must be in [0, 2]");
    const bool want_words = (flags & STT_FLAG_WORD_TIMESTAMPS) != 0;
    const bool short_window = (flags & STT_FLAG_SHORT_WINDOW) != 0;
    const ct2::Vocabulary& vocab = m->model->get_vocabulary();

    // Per-item language (empty = detect).
    std::vector<std::string> langs(n_items);
    if (languages) {
      std::vector<std::string> parts;
      std::string cur;
      for (const char* p = languages;; ++p) {
        if (*p == ',' || *p == '\0') {
          parts.push_back(lower(trim(cur)));
          cur.clear();
          if (*p == '\0') break;
        } else {
          cur.push_back(*p);
        }
      }
      if (static_cast<int32_t>(parts.size()) != n_items)
        fail(STT_E_INVALID_ARGUMENT, "languages must hold " + std::to_string(n_items) + " comma-separated items, got " +
                                         std::to_string(parts.size()));
      langs = parts;
    }
    if (!m->multilingual) {
      for (auto& l : langs) l = "en";
    } else {
      for (auto& l : langs)
        if (!l.empty() && !vocab.contains("<|" + l + "|>")) fail(STT_E_INVALID_ARGUMENT, "unknown language \"" + l + "\"");
    }

    // Previous-text prompt (faster-whisper keeps the last max_length/2 - 1 = 223).
    std::vector<size_t> prev;
    if (n_prompt_ids > 0) {
      prev.push_back(m->sot_prev);
      const int32_t start = std::max(0, n_prompt_ids - (STT_MAX_LENGTH / 2 - 1));
      for (int32_t i = start; i < n_prompt_ids; ++i) {
        if (prompt_ids[i] < 0 || static_cast<size_t>(prompt_ids[i]) >= m->vocab_size)
          fail(STT_E_INVALID_ARGUMENT, "prompt token id out of range: " + std::to_string(prompt_ids[i]));
        prev.push_back(static_cast<size_t>(prompt_ids[i]));
      }
    }
    const size_t prompt_len = prev.size() + (m->multilingual ? 3 : 1) + 1;
    if (max_new_tokens < 1 || prompt_len + static_cast<size_t>(max_new_tokens) > STT_MAX_LENGTH)
      fail(STT_E_INVALID_ARGUMENT, "max_new_tokens must be >= 1 and prompt length (" + std::to_string(prompt_len) +
                                       ") + max_new_tokens must be <= " + std::to_string(STT_MAX_LENGTH));

    std::vector<int> suppress;
    if (n_suppress_ids > 0) {
      for (int32_t i = 0; i < n_suppress_ids; ++i) {
        if (suppress_ids[i] < -1 || (suppress_ids[i] >= 0 && static_cast<size_t>(suppress_ids[i]) >= m->vocab_size))
          fail(STT_E_INVALID_ARGUMENT, "suppress token id out of range: " + std::to_string(suppress_ids[i]));
        suppress.push_back(suppress_ids[i]);
      }
    } else {
      suppress = {-1};
    }

    // Forced decoder prefix per item (committed words of a live utterance).
    std::vector<std::vector<size_t>> prefixes(n_items);
    size_t longest_prefix = 0;
    if (prefix_lengths) {
      if (!prefix_ids) fail(STT_E_INVALID_ARGUMENT, "prefix_lengths given without prefix_ids");
      int64_t off = 0;
      for (int32_t i = 0; i < n_items; ++i) {
        const int32_t n = prefix_lengths[i];
        if (n < 0 || n > STT_MAX_LENGTH / 2) fail(STT_E_INVALID_ARGUMENT, "prefix length out of range: " + std::to_string(n));
        for (int32_t k = 0; k < n; ++k) {
          const int32_t id = prefix_ids[off + k];
          if (id < 0 || static_cast<size_t>(id) >= m->eot)
            fail(STT_E_INVALID_ARGUMENT, "prefix token id is not a text token: " + std::to_string(id));
          prefixes[i].push_back(static_cast<size_t>(id));
        }
        off += n;
        longest_prefix = std::max(longest_prefix, prefixes[i].size());
      }
    }
    if (prompt_len + longest_prefix + static_cast<size_t>(max_new_tokens) > STT_MAX_LENGTH)
      fail(STT_E_INVALID_ARGUMENT, "prompt (" + std::to_string(prompt_len) + ") + prefix (" + std::to_string(longest_prefix) +
                                       ") + max_new_tokens must be <= " + std::to_string(STT_MAX_LENGTH));

    // Features over the whole utterance (the max-8 floor is global, as in faster-whisper).
    const int nm = m->n_mels;
    for (auto& u : utts) sttw::log_mel(u.samples, u.n, 160, nm, u.feats, u.frames);

    // Language detection for the items that need it.
    std::vector<Detected> det(n_items);
    {
      std::vector<Utterance*> todo;
      std::vector<int> idx;
      for (int32_t i = 0; i < n_items; ++i)
        if (langs[i].empty()) { todo.push_back(&utts[i]); idx.push_back(i); }
      auto found = detect(m, todo);
      for (size_t k = 0; k < idx.size(); ++k) {
        det[idx[k]] = found[k];
        langs[idx[k]] = found[k].language;
      }
    }

    // One decoding job per (utterance, 30 s window) over content frames (frames - 1).
    std::vector<Job> jobs;
    for (int32_t i = 0; i < n_items; ++i) {
      const int64_t content = utts[i].frames - 1;
      for (int64_t seek = 0; seek < content; seek += kWindow) jobs.push_back({i, seek, std::min(kWindow, content - seek)});
    }

    ct2::models::WhisperOptions opt;
    opt.beam_size = temperature > 0 ? 1 : static_cast<size_t>(beam_size);
    opt.patience = 1;
    opt.length_penalty = 1;
    opt.repetition_penalty = 1;
    opt.no_repeat_ngram_size = 0;
    opt.max_length = prompt_len + longest_prefix + static_cast<size_t>(max_new_tokens);
    opt.num_hypotheses = 1;
    opt.return_scores = true;
    opt.return_no_speech_prob = true;
    opt.max_initial_timestamp_index = 50;  // round(1.0 / 0.02)
    opt.suppress_blank = true;
    opt.suppress_tokens = suppress;
    if (temperature > 0) {
      opt.sampling_topk = 0;  // sample from the whole distribution, as faster-whisper's fallback
      opt.sampling_temperature = temperature;
    }

    struct Acc {
      std::vector<size_t> tokens;
      double cum = 0, denom = 0;
      float no_speech = 0;
      int windows = 0;
      json token_times = json::array();
    };
    std::vector<Acc> acc(n_items);
    constexpr size_t kChunk = 32;  // windows per CTranslate2 call (bounds memory for long audio)
    for (size_t c0 = 0; c0 < jobs.size(); c0 += kChunk) {
      const size_t cn = std::min(kChunk, jobs.size() - c0);
      // Finals use Whisper's full 30 s window. Interims may ask for a window
      // trimmed to the chunk's longest content plus 3 s of silence, rounded up
      // to whole seconds: the encoder's cost is linear in it. Without the
      // trailing silence stock Whisper loops (measured on jfk: 5 s of speech in
      // a 5 s window repeats "ask not to" until max_length; with 3 s it matches
      // the full window's text, at 30-45 % of its time; docs/engine.md).
      int64_t width = kWindow;
      if (short_window) {
        int64_t longest = 0;
        for (size_t j = 0; j < cn; ++j) longest = std::max(longest, jobs[c0 + j].size);
        width = std::min(kWindow, (longest + kShortWindowPad + 99) / 100 * 100);
      }
      ct2::StorageView feats({static_cast<ct2::dim_t>(cn), nm, width}, 0.0f);
      float* base = feats.data<float>();
      std::vector<std::vector<size_t>> prompts(cn);
      std::vector<std::vector<size_t>> sot_seqs(cn);
      for (size_t j = 0; j < cn; ++j) {
        const Job& job = jobs[c0 + j];
        copy_window(utts[job.item], nm, job.seek, job.size, width, base + j * nm * width);
        auto& sot_seq = sot_seqs[j];
        sot_seq.push_back(m->sot);
        if (m->multilingual) {
          sot_seq.push_back(vocab.to_id("<|" + langs[job.item] + "|>"));
          sot_seq.push_back(task == 1 ? m->translate : m->transcribe);
        }
        auto& p = prompts[j];
        p = prev;
        p.insert(p.end(), sot_seq.begin(), sot_seq.end());
        p.push_back(m->no_timestamps);
        // The prefix belongs to the utterance's first window only.
        if (job.seek == 0) p.insert(p.end(), prefixes[job.item].begin(), prefixes[job.item].end());
      }
      std::vector<ct2::models::WhisperGenerationResult> results;
      std::vector<ct2::models::WhisperAlignmentResult> aligned(cn);
      try {
        // Word timings need the encoder output twice (decode, then align):
        // encode once and hand the same output to both.
        ct2::StorageView input = want_words ? m->pool->encode(feats, false).get() : std::move(feats);
        auto futures = m->pool->generate(input, prompts, opt);
        for (auto& f : futures) results.push_back(f.get());
        if (want_words) align_words(m, input, sot_seqs, results, jobs, c0, cn, aligned);
      } catch (const SttError&) {
        throw;
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        fail(STT_E_INFERENCE, std::string("decoding failed: ") + e.what());
      }
      for (size_t j = 0; j < cn; ++j) {
        const Job& job = jobs[c0 + j];
        auto& r = results[j];
        Acc& a = acc[job.item];
        const auto& seq = r.sequences_ids.empty() ? std::vector<size_t>{} : r.sequences_ids[0];
        const double score = r.scores.empty() ? 0.0 : r.scores[0];
        // faster-whisper: cum_logprob = score * seq_len ** length_penalty; avg = cum / (seq_len + 1).
        a.cum += score * static_cast<double>(seq.size());
        a.denom += static_cast<double>(seq.size()) + 1.0;
        if (a.windows == 0) a.no_speech = r.no_speech_prob;
        a.windows++;
        a.tokens.insert(a.tokens.end(), seq.begin(), seq.end());
        if (want_words) append_token_times(m, seq, aligned[j], job.seek, job.size, a.token_times);
      }
    }

    json results = json::array();
    for (int32_t i = 0; i < n_items; ++i) {
      const Acc& a = acc[i];
      std::string text;
      for (size_t t : a.tokens)
        if (t < m->eot && t < m->bytes.size()) text += m->bytes[t];
      json r = {{"tokens", a.tokens},
                {"text", trim(text)},
                {"avg_logprob", a.denom > 0 ? a.cum / a.denom : 0.0},
                {"no_speech_prob", a.windows > 0 ? a.no_speech : 1.0f},
                {"language", langs[i]},
                {"language_probability", langs[i].empty() || det[i].language.empty() ? 1.0f : det[i].probability},
                {"windows", a.windows}};
      if (want_words) r["token_times"] = a.token_times;
      results.push_back(std::move(r));
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    json out = {{"results", std::move(results)}, {"ms", ms}};
    *out_json = dup_string(out.dump(-1, ' ', false, json::error_handler_t::replace));
  });
}

STT_API int32_t stt_detect_language(stt_model* m, const float* samples, const int64_t* lengths, int32_t n_items,
                                    int32_t top_k, char** out_json) {
  if (out_json) *out_json = nullptr;
  return guarded([&] {
    if (!out_json) fail(STT_E_INVALID_ARGUMENT, "out_json must not be NULL");
    check_handle(m);
    if (top_k < 1) fail(STT_E_INVALID_ARGUMENT, "top_k must be >= 1");
    std::vector<Utterance> utts = read_audio(samples, lengths, n_items);
    json results = json::array();
    if (!m->multilingual) {
      for (int32_t i = 0; i < n_items; ++i)
        results.push_back({{"language", "en"}, {"probability", 1.0}, {"top", json::array({json::array({"en", 1.0})})}});
    } else {
      std::vector<Utterance*> todo;
      for (auto& u : utts) {
        sttw::log_mel(u.samples, u.n, 160, m->n_mels, u.feats, u.frames);
        todo.push_back(&u);
      }
      auto found = detect(m, todo);
      for (auto& d : found) {
        json top = json::array();
        for (size_t k = 0; k < d.top.size() && k < static_cast<size_t>(top_k); ++k)
          top.push_back(json::array({d.top[k].first, d.top[k].second}));
        results.push_back({{"language", d.language}, {"probability", d.probability}, {"top", top}});
      }
    }
    json out = {{"results", std::move(results)}};
    *out_json = dup_string(out.dump(-1, ' ', false, json::error_handler_t::replace));
  });
}

STT_API int32_t stt_log_mel(int32_t n_mels, const float* samples, int64_t n_samples, int32_t padding, float* out,
                            int64_t out_capacity, int64_t* out_frames) {
  return guarded([&] {
    if (n_mels != 80 && n_mels != 128) fail(STT_E_INVALID_ARGUMENT, "n_mels must be 80 or 128");
    if (padding < 0 || padding > 16000) fail(STT_E_INVALID_ARGUMENT, "padding must be in [0, 16000]");
    if (!samples) fail(STT_E_INVALID_ARGUMENT, "samples must not be NULL");
    if (n_samples <= 0 || n_samples > STT_MAX_SAMPLES)
      fail(STT_E_INVALID_AUDIO, "n_samples must be in [1, " + std::to_string(STT_MAX_SAMPLES) + "]");
    const int64_t frames = sttw::mel_frames(n_samples, padding);
    if (out_frames) *out_frames = frames;
    if (!out) return;
    if (out_capacity < frames * n_mels)
      fail(STT_E_INVALID_ARGUMENT, "out_capacity " + std::to_string(out_capacity) + " < n_mels * frames = " +
                                       std::to_string(frames * n_mels));
    for (int64_t k = 0; k < n_samples; ++k)
      if (!std::isfinite(samples[k])) fail(STT_E_INVALID_AUDIO, "sample " + std::to_string(k) + " is NaN or infinite");
    std::vector<float> feats;
    int64_t fr = 0;
    sttw::log_mel(samples, n_samples, padding, n_mels, feats, fr);
    std::memcpy(out, feats.data(), sizeof(float) * feats.size());
  });
}

}  // extern "C"
