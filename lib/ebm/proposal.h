// Densities, sampling and gradients of the two proposal/noise distributions:
//  * the learned mixture-density network q(y|x) (MdnOutput from EnergyModel::proposal);
//  * the fixed Gaussian mixture centred at the target, q(y|y_i) = 1/K sum_k N(y; y_i, s_k^2 I).
// Every sum of exponentials is a log-sum-exp.
#pragma once

#include <cmath>
#include <vector>

#include "ebm/model.h"
#include "ebm/rng.h"

namespace ebm {

constexpr double kLogTwoPi = 1.8378770664093453;

// log sum_i exp(v_i), stable for any finite inputs; -inf for n == 0 or all -inf.
template <typename S>
S log_sum_exp(const S* values, int n) {
  S top = -INFINITY;
  for (int i = 0; i < n; ++i) top = values[i] > top ? values[i] : top;
  if (!std::isfinite(top)) return top;
  S sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(values[i] - top);
  return top + std::log(sum);
}

// log q(y | x_e) for the learned proposal; if `responsibilities` is non-null it receives
// r_k = pi_k N_k(y) / q(y) (K values), the posterior over components.
template <typename S>
S mdn_log_density(const MdnOutput<S>& q, int example, const S* y, S* responsibilities = nullptr) {
  const int k_count = q.components, dy = q.y_dim;
  S stack_terms[64];
  std::vector<S> heap_terms;
  S* terms = stack_terms;
  if (k_count > 64) {
    heap_terms.resize(k_count);
    terms = heap_terms.data();
  }
  for (int k = 0; k < k_count; ++k) {
    S log_component = q.log_weights(k, example);
    for (int d = 0; d < dy; ++d) {
      const S lv = q.log_variances(k * dy + d, example);
      const S diff = y[d] - q.means(k * dy + d, example);
      log_component += S(-0.5) * (diff * diff * std::exp(-lv) + lv + S(kLogTwoPi));
    }
    terms[k] = log_component;
  }
  const S log_q = log_sum_exp(terms, k_count);
  if (responsibilities != nullptr) {
    for (int k = 0; k < k_count; ++k) responsibilities[k] = std::exp(terms[k] - log_q);
  }
  return log_q;
}

// Draws y ~ q(.|x_e): a component by its weight, then a Gaussian draw.
template <typename S>
void mdn_sample(const MdnOutput<S>& q, int example, Rng& rng, S* y) {
  const int k_count = q.components, dy = q.y_dim;
  double u = rng.uniform();
  int chosen = k_count - 1;
  for (int k = 0; k < k_count; ++k) {
    u -= std::exp(static_cast<double>(q.log_weights(k, example)));
    if (u < 0) {
      chosen = k;
      break;
    }
  }
  for (int d = 0; d < dy; ++d) {
    const S sigma = std::exp(S(0.5) * q.log_variances(chosen * dy + d, example));
    y[d] = q.means(chosen * dy + d, example) + sigma * S(rng.normal());
  }
}

// Adds coefficient * d log q(y|x_e) / d(outputs) into column e of the gradient matrices
// (means and log-variances (K*dy x E), logits (K x E)). With r_k the responsibilities:
//   d/d mu_kd       = r_k (y_d - mu_kd) / sigma_kd^2
//   d/d logvar_kd   = r_k ((y_d - mu_kd)^2 / sigma_kd^2 - 1) / 2
//   d/d logit_k     = r_k - pi_k          (through the softmax)
template <typename S>
S mdn_accumulate_log_density_gradient(const MdnOutput<S>& q, int example, const S* y, S coefficient,
                                      Matrix<S>& d_means, Matrix<S>& d_log_variances,
                                      Matrix<S>& d_logits) {
  const int k_count = q.components, dy = q.y_dim;
  S stack_r[64];
  std::vector<S> heap_r;
  S* r = stack_r;
  if (k_count > 64) {
    heap_r.resize(k_count);
    r = heap_r.data();
  }
  const S log_q = mdn_log_density(q, example, y, r);
  for (int k = 0; k < k_count; ++k) {
    const S cr = coefficient * r[k];
    for (int d = 0; d < dy; ++d) {
      const int row = k * dy + d;
      const S inv_var = std::exp(-q.log_variances(row, example));
      const S diff = y[d] - q.means(row, example);
      d_means(row, example) += cr * diff * inv_var;
      d_log_variances(row, example) += cr * S(0.5) * (diff * diff * inv_var - S(1));
    }
    d_logits(k, example) += coefficient * (r[k] - std::exp(q.log_weights(k, example)));
  }
  return log_q;
}

// Fixed Gaussian mixture of offsets eps around the target: 1/K sum_k N(eps; 0, s_k^2 I).
struct CenteredMixture {
  std::vector<double> sigmas;  // standardised units

  // Draws an offset with every component's scale multiplied by `scale` (NCE+ uses
  // scale = beta for the perturbation of the true target).
  template <typename S>
  void sample_offset(Rng& rng, int dy, S* eps, double scale = 1.0) const {
    const double sigma = sigmas[rng.below(sigmas.size())] * scale;
    for (int d = 0; d < dy; ++d) eps[d] = S(sigma * rng.normal());
  }

  // log density of an offset under the unscaled mixture.
  template <typename S>
  S log_density(const S* eps, int dy) const {
    double terms[64];
    const int k_count = static_cast<int>(sigmas.size());
    double squared = 0;
    for (int d = 0; d < dy; ++d) squared += static_cast<double>(eps[d]) * eps[d];
    for (int k = 0; k < k_count; ++k) {
      const double s = sigmas[k];
      terms[k] = -0.5 * squared / (s * s) - dy * (std::log(s) + 0.5 * kLogTwoPi);
    }
    return S(log_sum_exp(terms, k_count) - std::log(static_cast<double>(k_count)));
  }
};

}  // namespace ebm
