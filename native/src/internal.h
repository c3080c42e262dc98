// Internal declarations shared by the shim's translation units.
#pragma once
#include <cstdint>
#include <vector>

namespace sttw {

// Number of feature frames FeatureExtractor(audio, padding) returns.
int64_t mel_frames(int64_t n_samples, int padding);

// Fills out (row-major [n_mels][frames]) with faster-whisper's log-mel
// features; throws std::invalid_argument on a bad n_mels.
void log_mel(const float* samples, int64_t n_samples, int padding, int n_mels, std::vector<float>& out,
             int64_t& frames);

}  // namespace sttw
