// The process-wide model cache and the C functions about models and the
// library itself: version, ABI, CUDA devices, errors, load / release / describe.
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <ctranslate2/devices.h>
#include <ctranslate2/types.h>
#include <nlohmann/json.hpp>

#include "internal.h"

using json = nlohmann::json;
using namespace sttw;

namespace {
std::mutex g_registry_mu;
std::map<std::string, stt_model*> g_by_key;
std::set<const stt_model*> g_live;
int32_t g_constructed = 0;

size_t vocab_id(const ct2::Vocabulary& v, const std::string& tok) {
  if (!v.contains(tok)) fail(STT_E_MODEL_LOAD, "vocabulary lacks special token " + tok);
  return v.to_id(tok);
}

struct LoadRequest {
  bool cuda;
  int device_index;
  std::string compute_type;  // lower-case CTranslate2 name
  ct2::ComputeType ctype;
  std::string canon;  // canonical model directory
  std::string key;
};

// Step 1 of stt_load: arguments, device and model directory; no model touched.
LoadRequest resolve_load(const char* model_dir, const char* device, const char* compute_type, int32_t device_index,
                         int32_t intra_threads, int32_t inter_threads) {
  if (!model_dir || !device || !compute_type)
    fail(STT_E_INVALID_ARGUMENT, "stt_load: model_dir, device, compute_type and out_model must not be NULL");
  if (device_index < 0) fail(STT_E_INVALID_ARGUMENT, "device_index must be >= 0");
  if (intra_threads < 0 || intra_threads > 1024) fail(STT_E_INVALID_ARGUMENT, "intra_threads must be in [0, 1024]");
  if (inter_threads < 1 || inter_threads > 64) fail(STT_E_INVALID_ARGUMENT, "inter_threads must be in [1, 64]");

  const std::string dev = lower(device);
  if (dev != "cpu" && dev != "cuda" && dev != "auto")
    fail(STT_E_INVALID_ARGUMENT, "unknown device \"" + std::string(device) + "\" (expected cpu, cuda or auto)");
  const int cuda_count = stt_cuda_device_count();
  LoadRequest r;
  r.cuda = dev == "cuda" || (dev == "auto" && cuda_count > 0);
  if (r.cuda && cuda_count <= 0) fail(STT_E_NO_CUDA, "no CUDA device: set device to \"cpu\" (or \"auto\")");
  if (r.cuda && device_index >= cuda_count)
    fail(STT_E_NO_CUDA, "device_index " + std::to_string(device_index) + " but only " + std::to_string(cuda_count) +
                            " CUDA device(s) are visible");

  r.compute_type = lower(compute_type);
  if (r.compute_type.empty() || r.compute_type == "default") r.compute_type = r.cuda ? "float16" : "int8";
  try {
    r.ctype = ct2::str_to_compute_type(r.compute_type);
  } catch (const std::exception&) {
    fail(STT_E_INVALID_ARGUMENT, "unknown compute_type \"" + std::string(compute_type) + "\"");
  }

  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail(STT_E_MODEL_NOT_FOUND, "model directory not found: " + std::string(model_dir));
  if (!fs::is_regular_file(fs::path(model_dir) / "model.bin", ec))
    fail(STT_E_MODEL_NOT_FOUND, "no model.bin in " + std::string(model_dir));
  r.canon = fs::canonical(model_dir, ec).string();
  r.device_index = r.cuda ? device_index : 0;
  r.key = r.canon + "|" + (r.cuda ? "cuda" : "cpu") + "|" + r.compute_type + "|" + std::to_string(r.device_index);
  return r;
}

// Step 2: CTranslate2 loads the replicas.
std::unique_ptr<stt_model> construct(const LoadRequest& r, int32_t intra_threads, int32_t inter_threads) {
  auto m = std::make_unique<stt_model>();
  m->key = r.key;
  m->cuda = r.cuda;
  m->device_index = r.device_index;
  try {
    ct2::models::ModelLoader loader(r.canon);
    loader.device = r.cuda ? ct2::Device::CUDA : ct2::Device::CPU;
    loader.device_indices = {r.device_index};
    loader.num_replicas_per_device = static_cast<size_t>(inter_threads);
    loader.compute_type = r.ctype;
    auto replicas = loader.load();
    m->model = std::dynamic_pointer_cast<const ct2::models::WhisperModel>(replicas.at(0));
    if (!m->model) fail(STT_E_MODEL_LOAD, "model in " + r.canon + " is not a Whisper model");
    ct2::ReplicaPoolConfig cfg;
    cfg.num_threads_per_replica = static_cast<size_t>(intra_threads);
    m->pool = std::make_unique<ct2::models::Whisper>(replicas, cfg);
  } catch (const SttError&) {
    throw;
  } catch (const std::bad_alloc&) {
    fail(STT_E_OUT_OF_MEMORY, "out of memory while loading " + r.canon);
  } catch (const std::exception& e) {
    fail(STT_E_MODEL_LOAD, "cannot load model from " + r.canon + ": " + e.what());
  }
  return m;
}

// Step 3: the facts every call needs, read once (special ids, token bytes).
void read_vocabulary(stt_model& m) {
  m.multilingual = m.pool->is_multilingual();
  m.n_mels = static_cast<int>(m.pool->n_mels());
  m.num_languages = m.pool->num_languages();
  m.compute_type = ct2::compute_type_to_str(m.model->effective_compute_type());
  const ct2::Vocabulary& vocab = m.model->get_vocabulary();
  m.vocab_size = vocab.size();
  m.sot = vocab_id(vocab, "<|startoftranscript|>");
  m.eot = vocab_id(vocab, "<|endoftext|>");
  m.no_timestamps = vocab_id(vocab, "<|notimestamps|>");
  m.transcribe = vocab_id(vocab, "<|transcribe|>");
  m.translate = vocab_id(vocab, "<|translate|>");
  m.sot_prev = vocab_id(vocab, "<|startofprev|>");
  if (m.model->config.contains("suppress_ids") && m.model->config["suppress_ids"].is_array())
    for (const auto& v : m.model->config["suppress_ids"]) m.config_suppress.push_back(v.get<int>());
  m.bytes.resize(m.eot);
  for (size_t i = 0; i < m.eot && i < vocab.size(); ++i) m.bytes[i] = token_bytes(vocab.to_token(i));
}
}  // namespace

namespace sttw {
void check_handle(const stt_model* m) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (!m || !g_live.count(m)) fail(STT_E_BAD_HANDLE, "invalid model handle (not loaded or already released)");
}
}  // namespace sttw

extern "C" {

STT_API int32_t stt_abi_version(void) { return STT_ABI_VERSION; }

STT_API const char* stt_version(void) { return "sttwhisper 2 (ctranslate2 4.8.4)"; }

STT_API int32_t stt_cuda_device_count(void) {
  try {
    return ct2::get_device_count(ct2::Device::CUDA);
  } catch (...) {
    return 0;  // no driver, or a CPU-only CTranslate2
  }
}
STT_API int32_t stt_last_error_code(void) { return last_error_code(); }
STT_API const char* stt_last_error(void) { return last_error(); }
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
    if (!out_model) fail(STT_E_INVALID_ARGUMENT, "stt_load: model_dir, device, compute_type and out_model must not be NULL");
    const LoadRequest r = resolve_load(model_dir, device, compute_type, device_index, intra_threads, inter_threads);
    std::lock_guard<std::mutex> lock(g_registry_mu);  // held through loading: one load per key
    auto it = g_by_key.find(r.key);
    if (it != g_by_key.end()) {
      it->second->refcount++;
      *out_model = it->second;
      return;
    }
    std::unique_ptr<stt_model> m = construct(r, intra_threads, inter_threads);
    read_vocabulary(*m);
    m->refcount = 1;
    stt_model* raw = m.release();
    g_by_key[r.key] = raw;
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
