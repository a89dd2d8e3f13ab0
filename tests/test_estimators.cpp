// Estimators against cases with known answers: an analytic log-density plays the role of
// the energy, a wide Gaussian the role of the proposal. Tolerances scale as 1/sqrt(ESS).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
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


// A model built by hand whose energy is exactly f(x, y) = -|y| + c (one feature, one
// target, any x), the log-density of a Laplace distribution with scale 1 up to the
// constant: Z = 2 e^c. Hidden width 2, ReLU, one layer per branch, no residual block:
//   y-branch   hy = relu((1, -1)^T y) = (y+, y-)
//   joint      a = relu(Wx hx + I hy + 0) = hy       (Wx = 0; hy is non-negative)
//   output     f = (-1, -1) a + c = -|y| + c.
// Every other weight and bias is 0, so the x-branch outputs 0 and each proposal head
// outputs its last bias: components with means 0, log-variances log(proposal_sd^2) and
// equal weights, q(y|x) = N(y; 0, proposal_sd^2).
struct LaplaceModel {
  EnergyModel model;
  ParamVector params;
};

LaplaceModel laplace_model(double c, double proposal_sd) {
  Architecture arch;
  arch.x_dim = 1;
  arch.y_dim = 1;
  arch.hidden = 2;
  arch.x_layers = 1;
  arch.y_layers = 1;
  arch.residual_blocks = 0;
  arch.components = 2;
  arch.activation = Activation::relu;
  LaplaceModel out{EnergyModel(arch), {}};
  out.params.assign(out.model.parameter_count(), 0.0f);
  auto set = [&](const std::string& name, const std::vector<float>& values) {  // column-major
    for (const auto& block : out.model.layout().blocks()) {
      if (block.name != name) continue;
      REQUIRE(block.size() == values.size());
      std::copy(values.begin(), values.end(), out.params.begin() + static_cast<std::ptrdiff_t>(block.offset));
      return;
    }
    FAIL("no parameter block " << name);
  };
  set("y_net.l0.weight", {1, -1});
  set("joint.wy", {1, 0, 0, 1});
  set("joint_rest.l0.weight", {-1, -1});
  set("joint_rest.l0.bias", {static_cast<float>(c)});
  const float log_variance = static_cast<float>(2 * std::log(proposal_sd));
  set("mdn_log_variance.l1.bias", {log_variance, log_variance});
  return out;
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
  // importance_sample and log_density on a model with a known normaliser: f = -|y| + c,
  // p(y|x) = exp(-|y|) / 2, so log Z = c + log 2 and log p(y) = -|y| - log 2, with the
  // proposal N(0, 3^2). One row per observed y.
  const double c = 0.7;
  const LaplaceModel laplace = laplace_model(c, 3.0);
  const std::vector<double> observed{-2.0, 0.0, 1.5, 3.0};
  const int rows = static_cast<int>(observed.size());
  Matrix<float> x = Matrix<float>::Zero(1, rows), y(1, rows);
  for (int r = 0; r < rows; ++r) y(0, r) = static_cast<float>(observed[r]);
  const ImportanceSample is = importance_sample(laplace.model, laplace.params, x, 50000, 7, 0);
  const std::vector<double> estimate = log_density(laplace.model, laplace.params, is, y);
  for (int r = 0; r < rows; ++r) {
    CAPTURE(observed[r]);
    const double tolerance = 6.0 / std::sqrt(is.ess[r]);
    CHECK(std::abs(is.log_z[r] - (c + std::log(2.0))) < tolerance);
    CHECK(std::abs(estimate[r] - (-std::abs(observed[r]) - std::log(2.0))) < tolerance);
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

// fit_temperature against a closed form. For f = -|y| (+ c) the tempered density is the
// Laplace distribution p_T(y) = exp(-|y| / T) / (2T), whose NLL on data y_1..y_n,
//   NLL(T) = mean_i |y_i| / T + log(2T),
// is minimised at T* = mean_i |y_i|. The model is built by hand (laplace_model: energy
// exactly -|y| + c, proposal N(0, 4^2)), which no network with smooth activations could
// give exactly for -y^2/2. Data with mean |y| = 2 must give T = 2 and the two NLLs of
// the closed form; data with mean |y| = 0.5 has its optimum below the search range
// [1, 4] and must give T = 1 (never sharpened).
TEST_CASE("fit_temperature recovers the closed-form optimum of a Laplace energy") {
  const LaplaceModel laplace = laplace_model(0.3, 4.0);
  const int n = 2000;
  const Matrix<float> x = Matrix<float>::Zero(1, n);
  for (const double mean_abs : {2.0, 0.5}) {
    CAPTURE(mean_abs);
    // |y_i| evenly spread over (0, 2 mean_abs), alternating signs: mean |y_i| = mean_abs.
    Matrix<float> y(1, n);
    for (int i = 0; i < n; ++i) y(0, i) = static_cast<float>((i % 2 ? 1 : -1) * 2 * mean_abs * (i + 0.5) / n);
    const double expected_t = std::max(1.0, mean_abs);
    auto closed_form_nll = [&](double t) { return mean_abs / t + std::log(2 * t); };
    double before = 0, after = 0;
    std::vector<double> row_log_density;
    const double t = fit_temperature(laplace.model, laplace.params, x, y, 512, 5, 2, &before, &after, {}, nullptr,
                                     &row_log_density);
    CAPTURE(t);
    CHECK(std::abs(t - expected_t) < 0.01 * expected_t);  // seen: 0.3% off for mean |y| = 2
    CHECK(std::abs(before - closed_form_nll(1.0)) < 0.01);
    CHECK(std::abs(after - closed_form_nll(expected_t)) < 0.01);
    // The per-row log densities are those of the fitted T, from the same estimate (the
    // same draws): their mean is minus the reported NLL, and row i is the tempered Laplace
    // log density -|y_i| / T - log 2T up to its own importance-sampling error (512 draws
    // per row; T = 1 in place of T = 2 would be off by ||y|/2 - log 2|, beyond 0.4 for
    // |y| < 0.59 or |y| > 2.19).
    REQUIRE(row_log_density.size() == static_cast<std::size_t>(n));
    const std::vector<double> again =
        row_log_densities(tempering_data(laplace.model, laplace.params, x, y, 512, 5, 2, {}), t);
    double mean = 0;
    for (int i = 0; i < n; ++i) {
      const double v = row_log_density[static_cast<std::size_t>(i)];
      mean += v / n;
      CHECK(v == doctest::Approx(again[static_cast<std::size_t>(i)]).epsilon(1e-12));
      CHECK(std::abs(v - (-std::abs(static_cast<double>(y(0, i))) / t - std::log(2 * t))) < 0.4);
    }
    CHECK(-mean == doctest::Approx(after).epsilon(1e-9));
  }
}
