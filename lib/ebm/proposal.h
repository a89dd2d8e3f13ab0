// Densities, sampling and gradients of the two proposal/noise distributions:
//  * the learned mixture-density network q(y|x) (MdnOutput from EnergyModel::proposal);
//  * the fixed Gaussian mixture centred at the target, q(y|y_i) = 1/K sum_k N(y; y_i, s_k^2 I).
// Every sum of exponentials is a log-sum-exp.
#pragma once

#include <cmath>
#include <cstddef>
#include <sstream>
#include <utility>
#include <vector>

#include "ebm/errors.h"
#include "ebm/model.h"
#include "ebm/rng.h"

namespace ebm {

constexpr double kLogTwoPi = 1.8378770664093453;

// Scratch space for n values: on the stack up to kInline, on the heap beyond, so that a
// count chosen by the caller (mixture components, standard deviations) has no fixed limit.
template <typename S, int kInline = 64>
class ScratchValues {
 public:
  explicit ScratchValues(int n) {
    if (n > kInline) heap_.resize(static_cast<std::size_t>(n));
  }
  S* data() { return heap_.empty() ? inline_ : heap_.data(); }

 private:
  S inline_[kInline];
  std::vector<S> heap_;
};

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
  ScratchValues<S> scratch(k_count);
  S* terms = scratch.data();
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
  ScratchValues<S> scratch(k_count);
  S* r = scratch.data();
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

// Vectorised log q(y_m | x_e) for n points at once (y: y_dim x n, contiguous columns).
// Writes log q to log_q[0..n) and, if responsibilities is non-null, r_km (K x n).
// Per component k the log term is
//   c_k - 1/2 sum_d (y_d - mu_kd)^2 / sigma_kd^2,  c_k = log pi_k - 1/2 sum_d (logvar_kd + log 2 pi),
// then log q = LSE_k, evaluated with array operations that vectorise (exp over K x n).
template <typename S>
void mdn_log_density_batch(const MdnOutput<S>& q, int example, const Eigen::Ref<const nondeduced_t<Matrix<S>>>& y,
                           S* log_q, Matrix<S>* responsibilities = nullptr) {
  const int k_count = q.components, dy = q.y_dim;
  const Eigen::Index n = y.cols();
  // Row-major K x n: each component's row is contiguous, so both the per-component terms
  // and the reductions over components (max, sum) run as vector operations along n.
  Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> terms(k_count, n);
  for (int k = 0; k < k_count; ++k) {
    S constant = q.log_weights(k, example);
    for (int d = 0; d < dy; ++d) constant -= S(0.5) * (q.log_variances(k * dy + d, example) + S(kLogTwoPi));
    auto row = terms.row(k).array();
    row.setConstant(constant);
    for (int d = 0; d < dy; ++d) {
      const S mean = q.means(k * dy + d, example);
      const S half_inv_var = S(0.5) * std::exp(-q.log_variances(k * dy + d, example));
      row -= (y.row(d).array() - mean).square() * half_inv_var;
    }
  }
  const RowVector<S> top = terms.colwise().maxCoeff();
  terms.array().rowwise() -= top.array();
  terms.array() = terms.array().exp();
  const RowVector<S> sums = terms.colwise().sum();
  Eigen::Map<RowVector<S>>(log_q, n) = top.array() + sums.array().log();
  if (responsibilities != nullptr) {
    *responsibilities = terms.array().rowwise() / sums.array();
  }
}

// log q(y_m|x_e) and its first and second derivatives along coordinate `dim` of y at n
// points (y: y_dim x n). With c_k the log of component k's weighted density,
// a_k = d c_k / dy_d = (mu_kd - y_d) / sigma_kd^2 and d^2 c_k / dy_d^2 = -1 / sigma_kd^2;
// log q = LSE_k c_k, so with the responsibilities r_k:
//   d log q / dy_d     = sum_k r_k a_k
//   d^2 log q / dy_d^2 = sum_k r_k (a_k^2 - 1 / sigma_kd^2) - (d log q / dy_d)^2.
template <typename S>
void mdn_log_density_y_derivatives(const MdnOutput<S>& q, int example,
                                   const Eigen::Ref<const nondeduced_t<Matrix<S>>>& y, int dim, RowVector<S>& log_q,
                                   RowVector<S>& d1, RowVector<S>& d2) {
  const int dy = q.y_dim;
  const Eigen::Index n = y.cols();
  log_q.resize(n);
  Matrix<S> r;
  mdn_log_density_batch(q, example, y, log_q.data(), &r);
  d1.setZero(n);
  d2.setZero(n);
  for (int k = 0; k < q.components; ++k) {
    const S inv_var = std::exp(-q.log_variances(k * dy + dim, example));
    const auto a = ((q.means(k * dy + dim, example) - y.row(dim).array()) * inv_var).eval();
    d1.array() += r.row(k).array() * a;
    d2.array() += r.row(k).array() * (a.square() - inv_var);
  }
  d2.array() -= d1.array().square();
}

// Adds sum_m coefficient_m * d log q(y_m|x_e) / d(outputs) into column e of the gradient
// matrices, given the responsibilities r (K x n) of the points y (y_dim x n):
//   d/d logit_k  = sum_m c_m (r_km - pi_k)
//   d/d mu_kd    = sum_m c_m r_km (y_dm - mu_kd) / sigma_kd^2
//   d/d logvar_kd = 1/2 sum_m c_m r_km ((y_dm - mu_kd)^2 / sigma_kd^2 - 1)
template <typename S>
void mdn_accumulate_gradient_batch(const MdnOutput<S>& q, int example, const Eigen::Ref<const nondeduced_t<Matrix<S>>>& y,
                                   const Matrix<S>& responsibilities, const RowVector<S>& coefficients,
                                   Matrix<S>& d_means, Matrix<S>& d_log_variances, Matrix<S>& d_logits) {
  const int k_count = q.components, dy = q.y_dim;
  const S coefficient_sum = coefficients.sum();
  for (int k = 0; k < k_count; ++k) {
    const auto a = (responsibilities.row(k).array() * coefficients.array()).eval();  // c_m r_km
    const S a_sum = a.sum();
    d_logits(k, example) += a_sum - coefficient_sum * std::exp(q.log_weights(k, example));
    for (int d = 0; d < dy; ++d) {
      const int row = k * dy + d;
      const S inv_var = std::exp(-q.log_variances(row, example));
      const auto diff = (y.row(d).array() - q.means(row, example)).eval();
      d_means(row, example) += inv_var * (a * diff).sum();
      d_log_variances(row, example) += S(0.5) * (inv_var * (a * diff.square()).sum() - a_sum);
    }
  }
}

// Draws n points y ~ q(.|x_e) into y (y_dim x n): components by their weights, normals by
// Box-Muller on arrays (vectorised log, sqrt, sin, cos).
template <typename S>
void mdn_sample_batch(const MdnOutput<S>& q, int example, Rng& rng, Eigen::Ref<nondeduced_t<Matrix<S>>> y) {
  const int k_count = q.components, dy = q.y_dim;
  const Eigen::Index n = y.cols();
  std::vector<double> cumulative(k_count);
  double total = 0;
  for (int k = 0; k < k_count; ++k) cumulative[k] = (total += std::exp(static_cast<double>(q.log_weights(k, example))));
  std::vector<int> component(n);
  for (Eigen::Index m = 0; m < n; ++m) {
    // k = the number of cumulative weights (all but the last) at or below u: the same
    // index as a linear search, without its data-dependent branch (mispredicted about
    // once per draw; the search was half of this function's time).
    const double u = rng.uniform() * total;
    int k = 0;
    for (int j = 0; j + 1 < k_count; ++j) k += static_cast<int>(u >= cumulative[j]);
    component[m] = k;
  }
  const Eigen::Index count = n * dy;
  const Eigen::Index pairs = (count + 1) / 2;
  Eigen::Array<S, Eigen::Dynamic, 1> u1(pairs), u2(pairs);
  for (Eigen::Index i = 0; i < pairs; ++i) {
    u1(i) = static_cast<S>(rng.uniform_positive());
    u2(i) = static_cast<S>(rng.uniform());
  }
  const Eigen::Array<S, Eigen::Dynamic, 1> radius = (S(-2) * u1.log()).sqrt();
  const Eigen::Array<S, Eigen::Dynamic, 1> angle = S(6.283185307179586) * u2;
  Eigen::Array<S, Eigen::Dynamic, 1> normals(2 * pairs);
  normals.head(pairs) = radius * angle.cos();
  normals.tail(pairs) = radius * angle.sin();
  // Standard deviations once per component, not one exp per draw. Scalar std::exp on
  // purpose: Eigen's vectorised exp on a column whose alignment depends on the example's
  // position in the batch could change the last bits with the chunking.
  std::vector<S> sigmas(static_cast<std::size_t>(k_count) * dy);
  for (std::size_t i = 0; i < sigmas.size(); ++i) sigmas[i] = std::exp(S(0.5) * q.log_variances(static_cast<Eigen::Index>(i), example));
  for (Eigen::Index m = 0; m < n; ++m) {
    const int k = component[m];
    for (int d = 0; d < dy; ++d) {
      y(d, m) = q.means(k * dy + d, example) + sigmas[k * dy + d] * normals(m * dy + d);
    }
  }
}

// Fixed Gaussian mixture of offsets eps around the target: 1/K sum_k N(eps; 0, s_k^2 I).
struct CenteredMixture {
  // Throws UsageError unless there is at least one standard deviation and every one is
  // positive and finite (any number of them).
  explicit CenteredMixture(std::vector<double> standard_deviations) : sigmas(std::move(standard_deviations)) {
    if (sigmas.empty()) throw UsageError("gmm noise: needs at least one standard deviation");
    for (double s : sigmas) {
      if (!(s > 0) || !std::isfinite(s)) {
        std::ostringstream message;
        message << "gmm noise: standard deviations must be positive and finite, found " << s;
        throw UsageError(message.str());
      }
    }
  }

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
    const int k_count = static_cast<int>(sigmas.size());
    ScratchValues<double> scratch(k_count);
    double* terms = scratch.data();
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
