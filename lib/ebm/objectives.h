// Per-example training objectives of the energy model, with their gradients w.r.t. the
// candidate energies. Candidate 0 is the observed target (or its perturbation in NCE+),
// candidates 1..M are draws from the noise/proposal distribution; log_noise holds
// log q of every candidate (a constant: no gradient flows into q through these losses).
#pragma once

#include <cmath>
#include <vector>

#include "ebm/proposal.h"

namespace ebm {

enum class Objective { nce, nce_plus, ml_is };

// NCE as softmax cross-entropy over the C = M + 1 candidates, s_c = f_c - log q_c:
//   L = -(s_0 - LSE_c s_c),  dL/df_c = softmax(s)_c - [c == 0].
template <typename S>
S nce_loss(const S* f, const S* log_noise, int candidates, S* d_f) {
  std::vector<S> scores(candidates);
  S* s = scores.data();
  for (int c = 0; c < candidates; ++c) s[c] = f[c] - log_noise[c];
  const S lse = log_sum_exp(s, candidates);
  for (int c = 0; c < candidates; ++c) d_f[c] = std::exp(s[c] - lse);
  d_f[0] -= S(1);
  return lse - s[0];
}

// Maximum likelihood with the normaliser estimated by importance sampling:
//   L = LSE_{m>=1}(f_m - log q_m) - log M - f_0,
//   dL/df_0 = -1, dL/df_m = w_m = softmax_m(f_m - log q_m).
template <typename S>
S ml_is_loss(const S* f, const S* log_noise, int candidates, S* d_f) {
  const int m_count = candidates - 1;
  std::vector<S> scores(m_count);
  S* s = scores.data();
  for (int m = 0; m < m_count; ++m) s[m] = f[m + 1] - log_noise[m + 1];
  const S lse = log_sum_exp(s, m_count);
  d_f[0] = S(-1);
  for (int m = 0; m < m_count; ++m) d_f[m + 1] = std::exp(s[m] - lse);
  return lse - S(std::log(static_cast<double>(m_count))) - f[0];
}

// Self-normalised importance weights w_m = softmax_m(f_m - log q_m) over n samples;
// returns LSE_m(f_m - log q_m) - log n (the log of the estimated normaliser Z(x)).
template <typename S>
S importance_weights(const S* f, const S* log_q, int n, S* weights) {
  for (int m = 0; m < n; ++m) weights[m] = f[m] - log_q[m];
  const S lse = log_sum_exp(weights, n);
  for (int m = 0; m < n; ++m) weights[m] = std::exp(weights[m] - lse);
  return lse - S(std::log(static_cast<double>(n)));
}

}  // namespace ebm
