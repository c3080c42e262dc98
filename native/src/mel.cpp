// Log-mel features matching faster-whisper 1.2.1's FeatureExtractor.__call__.
// Own mixed-radix FFT (400 = 4*4*5*5), double precision internally.
#include "internal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <complex>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace sttw {

namespace {

constexpr int kNfft = 400;
constexpr int kHop = 160;
constexpr int kBins = kNfft / 2 + 1;  // 201
constexpr int kFactors[] = {4, 4, 5, 5, 1};

using cd = std::complex<double>;

struct FftPlan {
  std::vector<cd> tw;  // exp(-2*pi*i*k/N), k in [0, N)
  std::vector<float> window;  // periodic Hann as float32 (np.hanning(401)[:-1])
  FftPlan() : tw(kNfft), window(kNfft) {
    for (int k = 0; k < kNfft; ++k) {
      const double a = -2.0 * M_PI * k / kNfft;
      tw[k] = cd(std::cos(a), std::sin(a));
    }
    // np.hanning(M) = 0.5 - 0.5*cos(2*pi*n/(M-1)), M = 401.
    for (int n = 0; n < kNfft; ++n)
      window[n] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * n / kNfft));
  }
};

const FftPlan& plan() {
  static const FftPlan p;
  return p;
}

// Decimation-in-time mixed-radix FFT: out[0..n) = DFT of in[0], in[stride], ...
void fft_rec(const cd* in, cd* out, int n, int stride, const int* factors, const std::vector<cd>& tw) {
  const int p = factors[0];
  const int m = n / p;
  if (m == 1) {
    for (int i = 0; i < p; ++i) out[i] = in[i * stride];
  } else {
    for (int q = 0; q < p; ++q) fft_rec(in + q * stride, out + q * m, m, stride * p, factors + 1, tw);
  }
  const int tw_step = kNfft / n;  // W_n^j = tw[j * tw_step]
  cd tmp[8];
  cd res[8];
  for (int k = 0; k < m; ++k) {
    for (int q = 0; q < p; ++q) tmp[q] = out[q * m + k] * tw[(q * k * tw_step) % kNfft];
    for (int s = 0; s < p; ++s) {
      cd acc = 0;
      for (int q = 0; q < p; ++q) acc += tmp[q] * tw[((q * s) % p) * (kNfft / p)];
      res[s] = acc;
    }
    for (int s = 0; s < p; ++s) out[k + s * m] = res[s];
  }
}

// librosa/faster-whisper slaney mel filterbank, computed in float64 then cast to float32.
std::vector<float> make_mel_filters(int n_mels) {
  const double sr = 16000.0;
  std::vector<double> fftfreqs(kBins);
  for (int i = 0; i < kBins; ++i) fftfreqs[i] = i * sr / kNfft;
  const double min_mel = 0.0, max_mel = 45.245640471924965;
  std::vector<double> freqs(n_mels + 2);
  const double f_sp = 200.0 / 3;
  const double min_log_hz = 1000.0;
  const double min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  for (int i = 0; i < n_mels + 2; ++i) {
    // np.linspace: start + i*step, last point exactly stop.
    const double step = (max_mel - min_mel) / (n_mels + 1);
    double mel = (i == n_mels + 1) ? max_mel : min_mel + i * step;
    double f = f_sp * mel;
    if (mel >= min_log_mel) f = min_log_hz * std::exp(logstep * (mel - min_log_mel));
    freqs[i] = f;
  }
  std::vector<float> w(static_cast<size_t>(n_mels) * kBins);
  for (int m = 0; m < n_mels; ++m) {
    const double fdiff_lo = freqs[m + 1] - freqs[m];
    const double fdiff_hi = freqs[m + 2] - freqs[m + 1];
    const double enorm = 2.0 / (freqs[m + 2] - freqs[m]);
    for (int k = 0; k < kBins; ++k) {
      const double lower = -(freqs[m] - fftfreqs[k]) / fdiff_lo;
      const double upper = (freqs[m + 2] - fftfreqs[k]) / fdiff_hi;
      double v = std::max(0.0, std::min(lower, upper));
      w[static_cast<size_t>(m) * kBins + k] = static_cast<float>(v * enorm);
    }
  }
  return w;
}

const std::vector<float>& mel_filters(int n_mels) {
  static std::mutex mu;
  static std::vector<float> f80, f128;
  std::lock_guard<std::mutex> lock(mu);
  std::vector<float>& f = n_mels == 80 ? f80 : f128;
  if (f.empty()) f = make_mel_filters(n_mels);
  return f;
}

inline int64_t reflect_index(int64_t k, int64_t len) {
  if (len == 1) return 0;
  const int64_t period = 2 * (len - 1);
  k %= period;
  if (k < 0) k += period;
  if (k >= len) k = period - k;
  return k;
}

}  // namespace

int64_t mel_frames(int64_t n_samples, int padding) { return (n_samples + padding) / kHop; }

void log_mel(const float* samples, int64_t n_samples, int padding, int n_mels, std::vector<float>& out,
             int64_t& frames) {
  if (n_mels != 80 && n_mels != 128) throw std::invalid_argument("n_mels must be 80 or 128");
  const FftPlan& pl = plan();
  const std::vector<float>& filt = mel_filters(n_mels);
  const int64_t len = n_samples + padding;  // waveform after zero padding
  frames = len / kHop;                       // STFT frames (1 + len/160) minus the dropped last one
  out.assign(static_cast<size_t>(n_mels) * frames, 0.0f);
  if (frames <= 0) return;

  auto sample_at = [&](int64_t j) -> float {  // j indexes the reflect-padded signal
    const int64_t k = reflect_index(j - kNfft / 2, len);
    return k < n_samples ? samples[k] : 0.0f;
  };

  std::vector<cd> in(kNfft), spec(kNfft);
  std::vector<float> power(kBins);
  std::vector<double> logv(static_cast<size_t>(n_mels) * frames);
  double max_log = -std::numeric_limits<double>::infinity();
  for (int64_t t = 0; t < frames; ++t) {
    const int64_t start = t * kHop;
    const bool interior = start >= kNfft / 2 && start + kNfft / 2 <= n_samples;
    for (int i = 0; i < kNfft; ++i) {
      const float x = interior ? samples[start - kNfft / 2 + i] : sample_at(start + i);
      in[i] = cd(static_cast<double>(x * pl.window[i]), 0.0);  // float32 product like numpy
    }
    fft_rec(in.data(), spec.data(), kNfft, 1, kFactors, pl.tw);
    for (int k = 0; k < kBins; ++k) power[k] = static_cast<float>(std::norm(spec[k]));
    for (int m = 0; m < n_mels; ++m) {
      const float* w = &filt[static_cast<size_t>(m) * kBins];
      double acc = 0.0;
      for (int k = 0; k < kBins; ++k) acc += static_cast<double>(w[k]) * power[k];
      const double v = std::log10(std::max(static_cast<double>(static_cast<float>(acc)), 1e-10));
      logv[static_cast<size_t>(m) * frames + t] = v;
      if (v > max_log) max_log = v;
    }
  }
  const double floor_v = max_log - 8.0;
  for (size_t i = 0; i < logv.size(); ++i) {
    const double v = std::max(logv[i], floor_v);
    out[i] = static_cast<float>((v + 4.0) / 4.0);
  }
}

}  // namespace sttw
