// Per-example training objectives of the energy model, with their gradients w.r.t. the
// candidate energies. Candidate 0 is the observed target (or its perturbation in NCE+),
// candidates 1..M are draws from the noise/proposal distribution; log_noise holds
// log q of every candidate (a constant: no gradient flows into q through these losses).
#pragma once

#include <cmath>

#include <Eigen/Core>

namespace ebm {

// The candidate-based methods (nce, nce+, ml-is, kld-is) score C = M + 1 candidates per
// example with the functions below; ml-mcmc, dsm and sm need derivatives of f w.r.t. y and
// have their own paths in training.cpp (maths.md, "The seven training methods").
enum class Objective { nce, nce_plus, ml_is, kld_is, ml_mcmc, dsm, sm };

// True for the methods whose loss is a function of candidate energies drawn from the
// noise distribution (draw_candidates): nce, nce+, ml-is, kld-is.
inline bool uses_noise_candidates(Objective objective) {
  return objective == Objective::nce || objective == Objective::nce_plus || objective == Objective::ml_is ||
         objective == Objective::kld_is;
}

// Self-normalised importance weights w_m = softmax_m(f_m - log q_m) over n samples;
// returns LSE_m(f_m - log q_m) - log n (the log of the estimated normaliser Z(x)).
// Vectorised: one pass for the maximum, one exp over the array. If every term is -inf
// (or any is +inf/NaN) the weights are uniform and the non-finite value is returned, so
// the caller can detect it.
template <typename S>
S importance_weights(const S* f, const S* log_q, int n, S* weights) {
  using Array = Eigen::Array<S, Eigen::Dynamic, 1>;
  Eigen::Map<Array> w(weights, n);
  w = Eigen::Map<const Array>(f, n) - Eigen::Map<const Array>(log_q, n);
  const S top = w.maxCoeff();
  if (!std::isfinite(top)) {
    w.setConstant(S(1) / S(n));
    return top;
  }
  w = (w - top).exp();
  const S sum = w.sum();
  w /= sum;
  return top + std::log(sum) - S(std::log(static_cast<double>(n)));
}

// NCE as softmax cross-entropy over the C = M + 1 candidates, s_c = f_c - log q_c:
//   L = -(s_0 - LSE_c s_c),  dL/df_c = softmax(s)_c - [c == 0].
template <typename S>
S nce_loss(const S* f, const S* log_noise, int candidates, S* d_f) {
  const S s0 = f[0] - log_noise[0];
  const S lse = importance_weights(f, log_noise, candidates, d_f) + S(std::log(static_cast<double>(candidates)));
  d_f[0] -= S(1);
  return lse - s0;
}

// Maximum likelihood with the normaliser estimated by importance sampling:
//   L = LSE_{m>=1}(f_m - log q_m) - log M - f_0,
//   dL/df_0 = -1, dL/df_m = w_m = softmax_m(f_m - log q_m).
template <typename S>
S ml_is_loss(const S* f, const S* log_noise, int candidates, S* d_f) {
  const S log_z = importance_weights(f + 1, log_noise + 1, candidates - 1, d_f + 1);
  d_f[0] = S(-1);
  return log_z - f[0];
}

// KL divergence from an assumed label distribution p(y|y_i) (a Gaussian around the target)
// to the model, with the normaliser and the cross-entropy both estimated by importance
// sampling with the M noise draws (method reference A.2):
//   L = LSE_{m>=1}(f_m - log q_m) - log M - 1/M sum_{m>=1} f_m p_m / q_m,
//   dL/df_0 = 0, dL/df_m = w_m - p_m / (M q_m),  w = softmax_m(f_m - log q_m).
// log_label holds log p of every candidate (entry 0 unused: f at the target is not used).
// p_m / q_m = exp(log p_m - log q_m) is formed in the log domain; it is 0 for draws far
// from the target and can be large for draws where q is small, as in the reference.
template <typename S>
S kld_is_loss(const S* f, const S* log_noise, const S* log_label, int candidates, S* d_f) {
  const int m_count = candidates - 1;
  const S log_z = importance_weights(f + 1, log_noise + 1, m_count, d_f + 1);
  const S inv_m = S(1) / S(m_count);
  S cross = 0;
  for (int m = 1; m <= m_count; ++m) {
    const S ratio = std::exp(log_label[m] - log_noise[m]) * inv_m;
    cross += f[m] * ratio;
    d_f[m] -= ratio;
  }
  d_f[0] = S(0);
  return log_z - cross;
}

}  // namespace ebm
