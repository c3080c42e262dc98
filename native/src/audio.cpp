// Audio in, features out: the (samples, lengths) layout, validation, windows,
// and stt_log_mel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "internal.h"

namespace sttw {

std::vector<Utterance> read_audio(const float* samples, const int64_t* lengths, int32_t n_items) {
  if (!samples || !lengths) fail(STT_E_INVALID_ARGUMENT, "samples and lengths must not be NULL");
  if (n_items < 1 || n_items > STT_MAX_BATCH)
    fail(STT_E_INVALID_ARGUMENT, "n_items must be in [1, " + std::to_string(STT_MAX_BATCH) + "], got " + std::to_string(n_items));
  std::vector<Utterance> out(n_items);
  int64_t offset = 0;
  for (int32_t i = 0; i < n_items; ++i) {
    const int64_t n = lengths[i];
    if (n <= 0) fail(STT_E_INVALID_AUDIO, "utterance " + std::to_string(i) + " is empty (0 samples)");
    // The cap is per utterance: a batch of long utterances may hold more in all.
    if (n > STT_MAX_SAMPLES)
      fail(STT_E_INVALID_AUDIO, "utterance " + std::to_string(i) + " too long: at most " +
                                    std::to_string(STT_MAX_SAMPLES) + " samples (10 min at 16 kHz) per utterance");
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

void ensure_features(Utterance& u, int n_mels) {
  // Over the whole utterance: the max-8 floor is global, as in faster-whisper.
  if (u.frames == 0) log_mel(u.samples, u.n, 160, n_mels, u.feats, u.frames);
}

void copy_window(const Utterance& u, int n_mels, int64_t from, int64_t count, int64_t width, float* dst) {
  std::fill(dst, dst + n_mels * width, 0.0f);
  for (int m = 0; m < n_mels; ++m)
    std::memcpy(dst + m * width, u.feats.data() + m * u.frames + from, sizeof(float) * count);
}

}  // namespace sttw

using namespace sttw;

extern "C" {

STT_API int32_t stt_log_mel(int32_t n_mels, const float* samples, int64_t n_samples, int32_t padding, float* out,
                            int64_t out_capacity, int64_t* out_frames) {
  return guarded([&] {
    if (n_mels != 80 && n_mels != 128) fail(STT_E_INVALID_ARGUMENT, "n_mels must be 80 or 128");
    if (padding < 0 || padding > 16000) fail(STT_E_INVALID_ARGUMENT, "padding must be in [0, 16000]");
    if (!samples) fail(STT_E_INVALID_ARGUMENT, "samples must not be NULL");
    if (n_samples <= 0 || n_samples > STT_MAX_SAMPLES)
      fail(STT_E_INVALID_AUDIO, "n_samples must be in [1, " + std::to_string(STT_MAX_SAMPLES) + "]");
    const int64_t frames = mel_frames(n_samples, padding);
    if (out_frames) *out_frames = frames;
    if (!out) return;
    if (out_capacity < frames * n_mels)
      fail(STT_E_INVALID_ARGUMENT, "out_capacity " + std::to_string(out_capacity) + " < n_mels * frames = " +
                                       std::to_string(frames * n_mels));
    for (int64_t k = 0; k < n_samples; ++k)
      if (!std::isfinite(samples[k])) fail(STT_E_INVALID_AUDIO, "sample " + std::to_string(k) + " is NaN or infinite");
    std::vector<float> feats;
    int64_t fr = 0;
    log_mel(samples, n_samples, padding, n_mels, feats, fr);
    std::memcpy(out, feats.data(), sizeof(float) * feats.size());
  });
}

}  // extern "C"
