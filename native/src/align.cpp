// Word timings: cross-attention DTW (CTranslate2's Whisper::align) on the
// same encoder output as the decode, turned into per-token times.
#include <algorithm>
#include <map>
#include <vector>

#include <ctranslate2/ops/gather.h>

#include "internal.h"

namespace sttw {

ct2::StorageView rows(const ct2::StorageView& batch, const std::vector<size_t>& idx) {
  if (static_cast<ct2::dim_t>(idx.size()) == batch.dim(0)) return batch;
  ct2::StorageView subset(batch.dtype(), batch.device());
  const ct2::StorageView index({static_cast<ct2::dim_t>(idx.size())}, std::vector<int32_t>(idx.begin(), idx.end()),
                               batch.device());
  ct2::ops::Gather(0)(batch, index, subset);
  return subset;
}

std::vector<size_t> text_tokens(const stt_model* m, const std::vector<size_t>& seq) {
  std::vector<size_t> out;
  for (size_t t : seq)
    if (t < m->eot) out.push_back(t);
  return out;
}

// Grouped by start sequence because one align call takes one. Items with no
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
    const ct2::StorageView subset = rows(encoded, idx);
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

// As faster-whisper's find_alignment: a token starts where the DTW path first
// reaches it and ends where the next token (or end-of-text) starts. Times are
// clamped to the window's content.
void append_token_times(const stt_model* m, const std::vector<size_t>& seq,
                        const ct2::models::WhisperAlignmentResult& al, int64_t seek, int64_t size,
                        std::vector<TokenTime>& out) {
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
    out.push_back({offset + std::min(s, limit), offset + std::min(std::max(e, s), limit), p});
  }
}

}  // namespace sttw
