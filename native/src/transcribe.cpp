// stt_transcribe as named steps:
//   parse_request   options and per-item inputs, validated
//   read_audio      the (samples, lengths) layout (audio.cpp)
//   plan_jobs       one job per (utterance, 30 s window)
//   detect_languages  for the items that name none and cannot be detected on
//                   their first window's encoder output (detect.cpp)
//   decoding_options  CTranslate2's WhisperOptions
//   decode_chunk    up to kChunk windows in one CTranslate2 call, features
//                   computed on demand and freed after an item's last window
//   render          the JSON answer
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "internal.h"

using json = nlohmann::json;
using namespace sttw;

namespace {

constexpr int64_t kShortWindowPad = 300;  // frames of silence after an interim's content
constexpr size_t kChunk = 32;             // windows per CTranslate2 call (bounds memory for long audio)

struct Request {
  std::vector<std::string> langs;  // per item; empty = detect
  int32_t task = 0;
  int32_t beam_size = 1;
  int32_t max_new_tokens = 1;
  std::vector<size_t> prev;  // <|startofprev|> + prompt ids, or empty
  std::vector<int> suppress;
  std::vector<std::vector<size_t>> prefixes;  // per item
  size_t prompt_len = 0;
  size_t longest_prefix = 0;
  float temperature = 0;
  bool want_words = false;
  bool short_window = false;
};

std::vector<std::string> parse_languages(const stt_model* m, const char* languages, int32_t n_items) {
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
  const ct2::Vocabulary& vocab = m->model->get_vocabulary();
  if (!m->multilingual) {
    for (auto& l : langs) l = "en";
  } else {
    for (auto& l : langs)
      if (!l.empty() && !vocab.contains("<|" + l + "|>")) fail(STT_E_INVALID_ARGUMENT, "unknown language \"" + l + "\"");
  }
  return langs;
}

// Previous-text prompt (faster-whisper keeps the last max_length/2 - 1 = 223).
std::vector<size_t> parse_prompt(const stt_model* m, const int32_t* prompt_ids, int32_t n_prompt_ids) {
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
  return prev;
}

std::vector<int> parse_suppress(const stt_model* m, const int32_t* suppress_ids, int32_t n_suppress_ids) {
  if (n_suppress_ids <= 0) return {-1};
  std::vector<int> suppress;
  for (int32_t i = 0; i < n_suppress_ids; ++i) {
    if (suppress_ids[i] < -1 || (suppress_ids[i] >= 0 && static_cast<size_t>(suppress_ids[i]) >= m->vocab_size))
      fail(STT_E_INVALID_ARGUMENT, "suppress token id out of range: " + std::to_string(suppress_ids[i]));
    suppress.push_back(suppress_ids[i]);
  }
  return suppress;
}

// Forced decoder prefix per item (committed words of a live utterance).
std::vector<std::vector<size_t>> parse_prefixes(const stt_model* m, const int32_t* prefix_ids,
                                                const int32_t* prefix_lengths, int32_t n_items) {
  std::vector<std::vector<size_t>> prefixes(n_items);
  if (!prefix_lengths) return prefixes;
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
  }
  return prefixes;
}

Request parse_request(const stt_model* m, int32_t n_items, const char* languages, int32_t task, int32_t beam_size,
                      int32_t max_new_tokens, const int32_t* prompt_ids, int32_t n_prompt_ids,
                      const int32_t* suppress_ids, int32_t n_suppress_ids, const int32_t* prefix_ids,
                      const int32_t* prefix_lengths, float temperature, int32_t flags) {
  if (task != 0 && task != 1) fail(STT_E_INVALID_ARGUMENT, "task must be 0 (transcribe) or 1 (translate)");
  if (beam_size < 1 || beam_size > 64) fail(STT_E_INVALID_ARGUMENT, "beam_size must be in [1, 64]");
  if (n_prompt_ids < 0 || (n_prompt_ids > 0 && !prompt_ids)) fail(STT_E_INVALID_ARGUMENT, "bad prompt_ids");
  if (n_suppress_ids < 0 || (n_suppress_ids > 0 && !suppress_ids)) fail(STT_E_INVALID_ARGUMENT, "bad suppress_ids");
  if ((flags & ~(STT_FLAG_WORD_TIMESTAMPS | STT_FLAG_SHORT_WINDOW)) != 0) fail(STT_E_INVALID_ARGUMENT, "unknown flags");
  if (!std::isfinite(temperature) || temperature < 0 || temperature > 2)
    fail(STT_E_INVALID_ARGUMENT, "temperature must be in [0, 2]");
  Request r;
  r.task = task;
  r.beam_size = beam_size;
  r.temperature = temperature;
  r.want_words = (flags & STT_FLAG_WORD_TIMESTAMPS) != 0;
  r.short_window = (flags & STT_FLAG_SHORT_WINDOW) != 0;
  r.langs = parse_languages(m, languages, n_items);
  r.prev = parse_prompt(m, prompt_ids, n_prompt_ids);
  r.prompt_len = r.prev.size() + (m->multilingual ? 3 : 1) + 1;
  if (max_new_tokens < 1 || r.prompt_len + static_cast<size_t>(max_new_tokens) > STT_MAX_LENGTH)
    fail(STT_E_INVALID_ARGUMENT, "max_new_tokens must be >= 1 and prompt length (" + std::to_string(r.prompt_len) +
                                     ") + max_new_tokens must be <= " + std::to_string(STT_MAX_LENGTH));
  r.max_new_tokens = max_new_tokens;
  r.suppress = parse_suppress(m, suppress_ids, n_suppress_ids);
  r.prefixes = parse_prefixes(m, prefix_ids, prefix_lengths, n_items);
  for (const auto& p : r.prefixes) r.longest_prefix = std::max(r.longest_prefix, p.size());
  if (r.prompt_len + r.longest_prefix + static_cast<size_t>(max_new_tokens) > STT_MAX_LENGTH)
    fail(STT_E_INVALID_ARGUMENT, "prompt (" + std::to_string(r.prompt_len) + ") + prefix (" +
                                     std::to_string(r.longest_prefix) + ") + max_new_tokens must be <= " +
                                     std::to_string(STT_MAX_LENGTH));
  return r;
}

// One decoding job per (utterance, 30 s window) over content frames (frames - 1).
std::vector<Job> plan_jobs(const std::vector<Utterance>& utts) {
  std::vector<Job> jobs;
  for (size_t i = 0; i < utts.size(); ++i) {
    const int64_t content = mel_frames(utts[i].n, 160) - 1;
    for (int64_t seek = 0; seek < content; seek += kWindow)
      jobs.push_back({static_cast<int>(i), seek, std::min(kWindow, content - seek)});
  }
  return jobs;
}

// An item that names no language is detected on the encoder output of its
// first window, the one its decode reads (decode_chunk): a multilingual model
// then runs its encoder once per window, not once more for detection
// (faster-whisper 1.x encodes the first window twice). The decode's window
// lacks the last feature frame that faster-whisper's detection window has, a
// frame of padding. Detected here, on a full window of their own, first: the
// items of a trimmed (interim) window, too short to detect on, and items with
// no window to decode.
std::vector<Detected> detect_languages(stt_model* m, std::vector<Utterance>& utts, Request& req,
                                       const std::vector<Job>& jobs) {
  std::vector<Detected> det(utts.size());
  std::vector<bool> has_job(utts.size(), false);
  for (const Job& j : jobs) has_job[j.item] = true;
  std::vector<Utterance*> todo;
  std::vector<size_t> idx;
  for (size_t i = 0; i < utts.size(); ++i)
    if (req.langs[i].empty() && (req.short_window || !has_job[i])) {
      todo.push_back(&utts[i]);
      idx.push_back(i);
    }
  auto found = detect(m, todo);
  for (size_t k = 0; k < idx.size(); ++k) {
    det[idx[k]] = found[k];
    req.langs[idx[k]] = found[k].language;
  }
  return det;
}

ct2::models::WhisperOptions decoding_options(const Request& req) {
  ct2::models::WhisperOptions opt;
  opt.beam_size = req.temperature > 0 ? 1 : static_cast<size_t>(req.beam_size);
  opt.patience = 1;
  opt.length_penalty = 1;
  opt.repetition_penalty = 1;
  opt.no_repeat_ngram_size = 0;
  opt.max_length = req.prompt_len + req.longest_prefix + static_cast<size_t>(req.max_new_tokens);
  opt.num_hypotheses = 1;
  opt.return_scores = true;
  opt.return_no_speech_prob = true;
  opt.max_initial_timestamp_index = 50;  // round(1.0 / 0.02)
  opt.suppress_blank = true;
  opt.suppress_tokens = req.suppress;
  if (req.temperature > 0) {
    opt.sampling_topk = 0;  // sample from the whole distribution, as faster-whisper's fallback
    opt.sampling_temperature = req.temperature;
  }
  return opt;
}

// What one utterance's windows add up to.
struct Acc {
  std::vector<size_t> tokens;
  double cum = 0, denom = 0;
  float no_speech = 0;
  int windows = 0;
  std::vector<TokenTime> token_times;
};

// Finals use Whisper's full 30 s window. Interims may ask for a window
// trimmed to the chunk's longest content plus 3 s of silence, rounded up to
// whole seconds: the encoder's cost is linear in it. Without the trailing
// silence stock Whisper loops (measured on jfk: 5 s of speech in a 5 s window
// repeats "ask not to" until max_length; with 3 s it matches the full
// window's text, at 30-45 % of its time; docs/engine.md).
int64_t window_width(const Request& req, const std::vector<Job>& jobs, size_t c0, size_t cn) {
  if (!req.short_window) return kWindow;
  int64_t longest = 0;
  for (size_t j = 0; j < cn; ++j) longest = std::max(longest, jobs[c0 + j].size);
  return std::min(kWindow, (longest + kShortWindowPad + 99) / 100 * 100);
}

// Start sequence of a job: <|sot|> (+ <|lang|> <|task|> on multilingual models).
std::vector<size_t> start_sequence(const stt_model* m, const Request& req, int item) {
  std::vector<size_t> sot_seq{m->sot};
  if (m->multilingual) {
    sot_seq.push_back(m->model->get_vocabulary().to_id("<|" + req.langs[item] + "|>"));
    sot_seq.push_back(req.task == 1 ? m->translate : m->transcribe);
  }
  return sot_seq;
}

// Decoder prompts of the chunk's jobs: previous text, start sequence (the
// item's language, detected or given), no-timestamps, and the forced prefix on
// an utterance's first window only.
void build_prompts(const stt_model* m, const Request& req, const std::vector<Job>& jobs, size_t c0, size_t cn,
                   std::vector<std::vector<size_t>>& prompts, std::vector<std::vector<size_t>>& sot_seqs) {
  for (size_t j = 0; j < cn; ++j) {
    const Job& job = jobs[c0 + j];
    sot_seqs[j] = start_sequence(m, req, job.item);
    auto& p = prompts[j];
    p = req.prev;
    p.insert(p.end(), sot_seqs[j].begin(), sot_seqs[j].end());
    p.push_back(m->no_timestamps);
    if (job.seek == 0) p.insert(p.end(), req.prefixes[job.item].begin(), req.prefixes[job.item].end());
  }
}

void decode_chunk(stt_model* m, Request& req, std::vector<Utterance>& utts, const std::vector<Job>& jobs, size_t c0,
                  size_t cn, const ct2::models::WhisperOptions& opt, std::vector<Acc>& acc, std::vector<Detected>& det,
                  int& encodes) {
  const int nm = m->n_mels;
  const int64_t width = window_width(req, jobs, c0, cn);
  ct2::StorageView feats({static_cast<ct2::dim_t>(cn), nm, width}, 0.0f);
  float* base = feats.data<float>();
  std::vector<size_t> undetected;  // jobs of this chunk: first windows of items that name no language
  for (size_t j = 0; j < cn; ++j) {
    const Job& job = jobs[c0 + j];
    ensure_features(utts[job.item], nm);
    copy_window(utts[job.item], nm, job.seek, job.size, width, base + j * nm * width);
    if (job.seek == 0 && req.langs[job.item].empty()) undetected.push_back(j);
  }
  // An item whose last window is in this chunk needs its features no more.
  for (size_t j = 0; j < cn; ++j) {
    const size_t next = c0 + j + 1;
    if (next >= jobs.size() || jobs[next].item != jobs[c0 + j].item) {
      auto& u = utts[jobs[c0 + j].item];
      std::vector<float>().swap(u.feats);
    }
  }
  std::vector<ct2::models::WhisperGenerationResult> results;
  std::vector<ct2::models::WhisperAlignmentResult> aligned(cn);
  std::vector<std::vector<size_t>> prompts(cn);
  std::vector<std::vector<size_t>> sot_seqs(cn);
  try {
    // Detection and word timings read the encoder output besides the decode:
    // encode once and hand the same output to each.
    const bool shared = req.want_words || !undetected.empty();
    ct2::StorageView input = shared ? m->pool->encode(feats, false).get() : std::move(feats);
    encodes++;
    if (!undetected.empty()) {
      const std::vector<Detected> found = detect_encoded(m, rows(input, undetected));
      for (size_t k = 0; k < undetected.size(); ++k) {
        const int item = jobs[c0 + undetected[k]].item;
        det[item] = found[k];
        req.langs[item] = found[k].language;
      }
    }
    build_prompts(m, req, jobs, c0, cn, prompts, sot_seqs);
    auto futures = m->pool->generate(input, prompts, opt);
    for (auto& f : futures) results.push_back(f.get());
    if (req.want_words) align_words(m, input, sot_seqs, results, jobs, c0, cn, aligned);
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
    if (req.want_words) append_token_times(m, seq, aligned[j], job.seek, job.size, a.token_times);
  }
}

std::string render(const stt_model* m, const Request& req, const std::vector<Acc>& acc,
                   const std::vector<Detected>& det, double ms, int encodes) {
  json results = json::array();
  for (size_t i = 0; i < acc.size(); ++i) {
    const Acc& a = acc[i];
    std::string text;
    for (size_t t : a.tokens)
      if (t < m->eot && t < m->bytes.size()) text += m->bytes[t];
    json r = {{"tokens", a.tokens},
              {"text", trim(text)},
              {"avg_logprob", a.denom > 0 ? a.cum / a.denom : 0.0},
              {"no_speech_prob", a.windows > 0 ? a.no_speech : 1.0f},
              {"language", req.langs[i]},
              {"language_probability", req.langs[i].empty() || det[i].language.empty() ? 1.0f : det[i].probability},
              {"windows", a.windows}};
    if (req.want_words) {
      json times = json::array();
      for (const auto& t : a.token_times) times.push_back(json::array({t.start, t.end, t.prob}));
      r["token_times"] = std::move(times);
    }
    results.push_back(std::move(r));
  }
  json out = {{"results", std::move(results)}, {"ms", ms}, {"encodes", encodes}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
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
    Request req = parse_request(m, n_items, languages, task, beam_size, max_new_tokens, prompt_ids, n_prompt_ids,
                                suppress_ids, n_suppress_ids, prefix_ids, prefix_lengths, temperature, flags);
    const std::vector<Job> jobs = plan_jobs(utts);
    std::vector<Detected> det = detect_languages(m, utts, req, jobs);
    int encodes = std::any_of(det.begin(), det.end(), [](const Detected& d) { return !d.language.empty(); }) ? 1 : 0;
    const ct2::models::WhisperOptions opt = decoding_options(req);
    std::vector<Acc> acc(n_items);
    for (size_t c0 = 0; c0 < jobs.size(); c0 += kChunk)
      decode_chunk(m, req, utts, jobs, c0, std::min(kChunk, jobs.size() - c0), opt, acc, det, encodes);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    *out_json = dup_string(render(m, req, acc, det, ms, encodes));
  });
}

}  // extern "C"
