// The library guards itself against sizes chosen by its caller: no fixed-size buffer
// overflows and no silent nonsense for counts the command-line tools happen to limit.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ebm/errors.h"
#include "ebm/model.h"
#include "ebm/proposal.h"

using namespace ebm;

namespace {

const double kPi = 3.141592653589793;

// 70 standard deviations: more than the 64 values kept on the stack.
std::vector<double> many_sigmas() {
  std::vector<double> sigmas;
  for (int k = 0; k < 70; ++k) sigmas.push_back(0.1 + 0.05 * k);
  return sigmas;
}

}  // namespace

TEST_CASE("CenteredMixture: any number of standard deviations, checked on construction") {
  const CenteredMixture mixture(many_sigmas());
  const double eps[2] = {0.3, -0.2};
  for (int dy = 1; dy <= 2; ++dy) {
    double squared = 0;
    for (int d = 0; d < dy; ++d) squared += eps[d] * eps[d];
    // 1/K sum_k N(eps; 0, s_k^2 I) in dy dimensions, summed directly.
    double density = 0;
    for (double s : mixture.sigmas) density += std::exp(-0.5 * squared / (s * s)) / std::pow(s * std::sqrt(2 * kPi), dy);
    density /= static_cast<double>(mixture.sigmas.size());
    const double log_q = mixture.log_density(eps, dy);
    CHECK(std::isfinite(log_q));
    CHECK(log_q == doctest::Approx(std::log(density)).epsilon(1e-12));
  }
  CHECK_THROWS_AS(CenteredMixture(std::vector<double>{}), UsageError);
  CHECK_THROWS_AS(CenteredMixture({0.1, 0.0}), UsageError);
  CHECK_THROWS_AS(CenteredMixture({0.1, -0.5}), UsageError);
  CHECK_THROWS_AS(CenteredMixture({NAN}), UsageError);
  CHECK_THROWS_AS(CenteredMixture({INFINITY}), UsageError);
}

TEST_CASE("mdn_log_density and its gradient with more than 64 components") {
  const int k_count = 70;
  MdnOutput<double> q;
  q.components = k_count;
  q.y_dim = 1;
  q.means.resize(k_count, 1);
  q.log_variances.resize(k_count, 1);
  q.log_weights.resize(k_count, 1);
  for (int k = 0; k < k_count; ++k) {
    q.means(k, 0) = -2.0 + 0.06 * k;
    q.log_variances(k, 0) = std::log(0.2 + 0.01 * k);
    q.log_weights(k, 0) = -std::log(static_cast<double>(k_count));
  }
  const double y = 0.4;
  double density = 0;
  for (int k = 0; k < k_count; ++k) {
    const double variance = std::exp(q.log_variances(k, 0));
    const double diff = y - q.means(k, 0);
    density += std::exp(-0.5 * diff * diff / variance) / std::sqrt(2 * kPi * variance) / k_count;
  }
  CHECK(mdn_log_density(q, 0, &y) == doctest::Approx(std::log(density)).epsilon(1e-12));
  Matrix<double> d_means = Matrix<double>::Zero(k_count, 1), d_log_variances = d_means, d_logits = d_means;
  const double log_q = mdn_accumulate_log_density_gradient(q, 0, &y, 1.0, d_means, d_log_variances, d_logits);
  CHECK(log_q == doctest::Approx(std::log(density)).epsilon(1e-12));
  // d/d logit_k = r_k - pi_k sums to zero over the components.
  CHECK(std::abs(d_logits.sum()) < 1e-12);
}

TEST_CASE("the lane form's backward pass refuses networks wider than its stack buffers") {
  Architecture arch;
  arch.hidden = EnergyModel::kLaneMaxWidth + 1;
  const EnergyModel model(arch);
  CHECK_FALSE(model.lanes_apply());
  ParamVector params(model.parameter_count(), 0.0f);
  EnergyLaneCache cache;
  const RowVector<float> d_f = RowVector<float>::Zero(8);
  CHECK_THROWS_AS(model.energy_backward_lanes(params.data(), cache, d_f, nullptr, nullptr), UsageError);
}
