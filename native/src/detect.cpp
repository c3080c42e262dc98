// Language detection: faster-whisper's detect_language on one 30 s window.
#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "internal.h"

using json = nlohmann::json;

namespace sttw {

namespace {

// Top languages per row of a detect_language answer.
std::vector<Detected> languages_of(std::vector<std::future<std::vector<std::pair<std::string, float>>>>& futures) {
  std::vector<Detected> out(futures.size());
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
  return out;
}

}  // namespace

// detect_language(features=features) with one segment:
// pad_or_trim(features[:, :3000]) (the last frame included), top-1 language.
std::vector<Detected> detect(stt_model* m, const std::vector<Utterance*>& items) {
  if (items.empty()) return {};
  const int nm = m->n_mels;
  ct2::StorageView feats({static_cast<ct2::dim_t>(items.size()), nm, kWindow}, 0.0f);
  float* base = feats.data<float>();
  for (size_t i = 0; i < items.size(); ++i) {
    ensure_features(*items[i], nm);
    copy_window(*items[i], nm, 0, std::min<int64_t>(kWindow, items[i]->frames), kWindow, base + i * nm * kWindow);
  }
  return detect_encoded(m, feats);
}

std::vector<Detected> detect_encoded(stt_model* m, const ct2::StorageView& input) {
  try {
    auto futures = m->pool->detect_language(input);
    return languages_of(futures);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    fail(STT_E_INFERENCE, std::string("language detection failed: ") + e.what());
  }
}

}  // namespace sttw

using namespace sttw;

extern "C" {

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
      for (auto& u : utts) todo.push_back(&u);
      for (auto& d : detect(m, todo)) {
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

}  // extern "C"
