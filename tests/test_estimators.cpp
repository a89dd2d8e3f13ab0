// Estimators against cases with known answers: an analytic log-density plays the role of
// the energy, a wide Gaussian the role of the proposal. Tolerances scale as 1/sqrt(ESS).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ebm/inference.h"
#include "ebm/objectives.h"
#include "ebm/proposal.h"
#include "ebm/rng.h"
#include "ebm/training.h"
#include "ebm/commands.h"

using namespace ebm;

namespace {

// Target p(y) = 0.3 N(-2, 0.5^2) + 0.7 N(1.5, 0.8^2); f = log p, so Z = 1.
const double kW[2] = {0.3, 0.7}, kMu[2] = {-2.0, 1.5}, kSd[2] = {0.5, 0.8};

double normal_pdf(double y, double mu, double sd) {
  const double z = (y - mu) / sd;
  return std::exp(-0.5 * z * z) / (sd * std::sqrt(2 * M_PI));
}
double normal_cdf(double y, double mu, double sd) { return 0.5 * std::erfc(-(y - mu) / (sd * std::sqrt(2.0))); }
double target_log_pdf(double y) { return std::log(kW[0] * normal_pdf(y, kMu[0], kSd[0]) + kW[1] * normal_pdf(y, kMu[1], kSd[1])); }
double target_cdf(double y) { return kW[0] * normal_cdf(y, kMu[0], kSd[0]) + kW[1] * normal_cdf(y, kMu[1], kSd[1]); }
double target_quantile(double level) {
  double lo = -20, hi = 20;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (target_cdf(mid) < level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Two rows with the same target, M proposal draws each from N(0, 3^2).
ImportanceSample analytic_sample(int samples, std::uint64_t seed) {
  ImportanceSample is;
  is.rows = 2;
  is.samples = samples;
  is.y_dim = 1;
  is.y.resize(1, 2 * samples);
  is.log_q.resize(samples, 2);
  is.energy.resize(samples, 2);
  is.weights.resize(samples, 2);
  is.log_z.resize(2);
  is.ess.resize(2);
  for (int e = 0; e < 2; ++e) {
    Rng rng(seed, e);
    for (int m = 0; m < samples; ++m) {
      const double y = 3.0 * rng.normal();
      is.y(0, e * samples + m) = static_cast<float>(y);
      is.log_q(m, e) = std::log(normal_pdf(is.y(0, e * samples + m), 0.0, 3.0));
      is.energy(m, e) = target_log_pdf(is.y(0, e * samples + m));
    }
    is.log_z[e] = importance_weights(is.energy.col(e).data(), is.log_q.col(e).data(), samples, is.weights.col(e).data());
    is.ess[e] = 1.0 / is.weights.col(e).squaredNorm();
  }
  return is;
}

}  // namespace

TEST_CASE("SNIS mean, std, quantiles and log Z match the analytic mixture") {
  const int samples = 200000;
  const ImportanceSample is = analytic_sample(samples, 42);
  const double mean = kW[0] * kMu[0] + kW[1] * kMu[1];
  const double second = kW[0] * (kSd[0] * kSd[0] + kMu[0] * kMu[0]) + kW[1] * (kSd[1] * kSd[1] + kMu[1] * kMu[1]);
  const double sd = std::sqrt(second - mean * mean);
  for (int e = 0; e < 2; ++e) {
    const double tolerance = 6.0 * sd / std::sqrt(is.ess[e]);
    double m = 0, v = 0;
    for (int i = 0; i < samples; ++i) m += is.weights(i, e) * is.y(0, e * samples + i);
    for (int i = 0; i < samples; ++i) v += is.weights(i, e) * std::pow(is.y(0, e * samples + i) - m, 2);
    CHECK(std::abs(m - mean) < tolerance);
    CHECK(std::abs(std::sqrt(v) - sd) < tolerance);
    // Z = 1 because f is a normalised log-density.
    CHECK(std::abs(is.log_z[e]) < 6.0 / std::sqrt(is.ess[e]));
    for (double level : {0.05, 0.25, 0.5, 0.75, 0.95}) {
      CAPTURE(level);
      CHECK(std::abs(weighted_quantile(is, e, 0, level) - target_quantile(level)) < 2 * tolerance);
    }
  }
}

TEST_CASE("SNIS log-density estimate: f(y) - log Z equals log p(y)") {
  const ImportanceSample is = analytic_sample(100000, 7);
  for (double y : {-2.0, 0.0, 1.5, 3.0}) {
    const double estimate = target_log_pdf(y) - is.log_z[0];
    CHECK(std::abs(estimate - target_log_pdf(y)) < 6.0 / std::sqrt(is.ess[0]));
  }
}

TEST_CASE("weighted CRPS matches the integral of (F - step)^2; PIT matches the CDF") {
  const ImportanceSample is = analytic_sample(100000, 9);
  for (double observed : {-2.5, 0.3, 1.5, 4.0}) {
    CAPTURE(observed);
    // CRPS(F, y) = integral (F(z) - 1{z >= y})^2 dz, by the trapezoid rule on a fine grid.
    double exact = 0;
    const double lo = -15, hi = 15;
    const int n = 60000;
    const double h = (hi - lo) / n;
    for (int i = 0; i <= n; ++i) {
      const double z = lo + i * h;
      const double diff = target_cdf(z) - (z >= observed ? 1.0 : 0.0);
      exact += (i == 0 || i == n ? 0.5 : 1.0) * diff * diff * h;
    }
    CHECK(std::abs(weighted_crps(is, 0, 0, observed) - exact) < 0.02);
    CHECK(std::abs(weighted_pit(is, 0, 0, observed) - target_cdf(observed)) < 0.02);
  }
}

TEST_CASE("importance resampling reproduces the target's moments") {
  const int samples = 100000, draws = 50000;
  const ImportanceSample is = analytic_sample(samples, 3);
  Architecture arch;  // unused without Langevin steps
  const EnergyModel model(arch);
  const ParamVector params(model.parameter_count(), 0.0f);
  const Matrix<float> y = resample(model, params, is, draws, 0, 0.1, 5, 0);
  REQUIRE(y.cols() == 2 * draws);
  for (int e = 0; e < 2; ++e) {
    const auto row = y.block(0, e * draws, 1, draws).cast<double>().array();
    const double mean = row.mean();
    const double sd = std::sqrt((row - mean).square().mean());
    CHECK(std::abs(mean - 0.45) < 0.05);
    CHECK(std::abs(sd - 1.7342) < 0.05);
    // Fraction in the left mode: 0.3.
    CHECK(std::abs((row < -0.5).cast<double>().mean() - 0.3) < 0.02);
  }
}

TEST_CASE("MDN log-density and sampling agree with the mixture formula") {
  MdnOutput<double> q;
  q.components = 2;
  q.y_dim = 2;
  q.means.resize(4, 1);
  q.log_variances.resize(4, 1);
  q.log_weights.resize(2, 1);
  q.means << -1, 2, 3, 0;
  q.log_variances << std::log(0.25), std::log(1.0), std::log(4.0), std::log(0.5);
  q.log_weights << std::log(0.25), std::log(0.75);
  const double y[2] = {0.5, 1.0};
  const double p0 = normal_pdf(0.5, -1, 0.5) * normal_pdf(1.0, 2, 1.0);
  const double p1 = normal_pdf(0.5, 3, 2.0) * normal_pdf(1.0, 0, std::sqrt(0.5));
  CHECK(mdn_log_density(q, 0, y) == doctest::Approx(std::log(0.25 * p0 + 0.75 * p1)).epsilon(1e-12));
  Rng rng(1, 1);
  double sum0 = 0, sum1 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double s[2];
    mdn_sample(q, 0, rng, s);
    sum0 += s[0];
    sum1 += s[1];
  }
  CHECK(std::abs(sum0 / n - (0.25 * -1 + 0.75 * 3)) < 0.02);
  CHECK(std::abs(sum1 / n - (0.25 * 2 + 0.75 * 0)) < 0.02);
  // The Gaussian mixture noise of the gmm option: density of a zero offset.
  const CenteredMixture mixture{{0.1, 0.8}};
  const double zero = 0.0;
  CHECK(std::exp(mixture.log_density(&zero, 1)) == doctest::Approx(2.2441).epsilon(1e-4));
}

// fit_proposal_scale against known answers: targets drawn from the proposal itself with
// its standard deviations multiplied by 4 must give s = 4 (a grid point, 2^(8/4)), and
// targets drawn from the proposal unchanged must give s = 1 (up to one grid step).
TEST_CASE("fit_proposal_scale recovers a known widening of the proposal") {
  Architecture arch;
  arch.x_dim = 2;
  arch.y_dim = 1;
  arch.hidden = 16;
  arch.components = 3;
  const EnergyModel model(arch);
  ParamVector params(model.parameter_count());
  Rng init(7);
  model.initialize(params.data(), init);
  const int n = 6000;
  Rng rng(11);
  Matrix<float> x(2, n);
  for (int e = 0; e < n; ++e) {
    x(0, e) = static_cast<float>(2 * rng.uniform() - 1);
    x(1, e) = static_cast<float>(2 * rng.uniform() - 1);
  }
  MdnOutput<float> q;
  model.proposal(params.data(), model.x_features(params.data(), x), q, nullptr);
  for (const double true_scale : {1.0, 4.0}) {
    MdnOutput<float> widened = q;
    widened.log_variances.array() += static_cast<float>(2 * std::log(true_scale));
    Matrix<float> y(1, n);
    for (int e = 0; e < n; ++e) mdn_sample(widened, e, rng, y.col(e).data());
    double before = 0, after = 0;
    const double scale = fit_proposal_scale(model, params, x, y, &before, &after);
    CAPTURE(true_scale);
    CAPTURE(scale);
    CHECK(scale >= true_scale / std::pow(2.0, 0.25) - 1e-9);
    CHECK(scale <= true_scale * std::pow(2.0, 0.25) + 1e-9);
    CHECK(after <= before);
    if (true_scale > 1) CHECK(after < before - 0.5);  // log 4 - (1 - 1/16)/2 = 0.92 nats per row
  }
}

// Coverage at several levels from binned PIT values, against counts made by hand: PIT
// values spread uniformly (calibrated) give coverage = level; all values in the two
// outer 5% tails (too narrow) give 0 at every level below 0.9 and 1 at 1.
TEST_CASE("pit_coverage and pit_histogram from fine PIT bins") {
  std::vector<long> uniform(kPitFineBins, 3);
  for (double level : {0.5, 0.8, 0.9, 0.95, 0.99}) CHECK(pit_coverage(uniform, level) == doctest::Approx(level));
  for (double v : pit_histogram(uniform, 10)) CHECK(v == doctest::Approx(0.1));
  std::vector<long> tails(kPitFineBins, 0);
  for (int b = 0; b < kPitFineBins / 20; ++b) tails[b] = tails[kPitFineBins - 1 - b] = 5;
  CHECK(pit_coverage(tails, 0.5) == 0.0);
  CHECK(pit_coverage(tails, 0.9) == 0.0);
  CHECK(pit_coverage(tails, 0.95) == doctest::Approx(0.5));
  const std::vector<double> hist = pit_histogram(tails, 10);
  CHECK(hist.front() == doctest::Approx(0.5));
  CHECK(hist.back() == doctest::Approx(0.5));
  CHECK(hist[5] == 0.0);
}
