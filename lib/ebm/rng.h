// Deterministic random numbers.
//
// xoshiro256++ seeded through SplitMix64. Every consumer derives its own stream from
// (seed, stream id), e.g. one stream per training example per epoch or one per input
// row at prediction time, so results are identical whatever the thread count and
// whatever order the work is scheduled in.
#pragma once

#include <cmath>
#include <cstdint>

namespace ebm {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) {
    // Mix seed and stream so that nearby (seed, stream) pairs give unrelated states.
    std::uint64_t sm = seed ^ (0x6a09e667f3bcc909ULL * (stream + 1));
    splitmix64(sm);
    sm ^= stream * 0xd1b54a32d192ed03ULL;
    for (auto& word : s_) word = splitmix64(sm);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform in (0, 1]: safe to take the log of.
  double uniform_positive() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53; }

  // Uniform integer in [0, n) (Lemire's multiply-shift; bias < n / 2^64, negligible).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

  // Standard normal by Box-Muller; the second variate is kept for the next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform_positive()));
    const double angle = 6.283185307179586 * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace ebm
