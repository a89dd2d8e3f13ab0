// End-to-end training on the generated bimodal data set (data/bimodal_*.csv): the model
// must find both modes where the data has two, beat Gaussian baselines by a clear margin,
// and its importance-sampling estimates must agree with grid normalisation.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/inference.h"
#include "bimodal_model.h"
#include "model_fixtures.h"

using namespace ebm;
namespace fs = std::filesystem;

using ebm::testing::bimodal_model;
using ebm::testing::kData;
using ebm::testing::kSanitized;
using ebm::testing::TrainedModel;

// Accuracy assertions, skipped in the sanitized build (see kSanitized).
#define QUALITY_CHECK(...)                 \
  do {                                     \
    if (kSanitized) {                      \
      static_cast<void>(__VA_ARGS__);      \
    } else {                               \
      CHECK(__VA_ARGS__);                  \
    }                                      \
  } while (0)

TEST_CASE("trained model beats Gaussian baselines on held-out data") {
  const TrainedModel& t = bimodal_model();
  PredictOptions p;
  p.model_path = t.model_path;
  p.data_path = kData + "bimodal_test.csv";
  p.output_path = (t.dir / "pred.csv").string();
  p.samples = kSanitized ? 64 : 512;
  p.threads = 2;
  p.evaluate = true;
  const PredictSummary s = run_predict(p);
  REQUIRE(s.rows == 500);
  const double nll = s.metrics["nll"].get<double>();

  // Baselines fitted on the training set: one Gaussian for all x, and linear-Gaussian.
  const Table train = read_table(kData + "bimodal_train.csv", {});
  const Table test = read_table(kData + "bimodal_test.csv", {});
  const Eigen::VectorXd x = train.values.col(0), y = train.values.col(1);
  const double xm = x.mean(), ym = y.mean();
  const double slope = ((x.array() - xm) * (y.array() - ym)).sum() / (x.array() - xm).square().sum();
  const double var_global = (y.array() - ym).square().mean();
  const double var_linear = (y.array() - ym - slope * (x.array() - xm)).square().mean();
  double nll_global = 0, nll_linear = 0;
  for (Eigen::Index r = 0; r < test.values.rows(); ++r) {
    const double xt = test.values(r, 0), yt = test.values(r, 1);
    nll_global += 0.5 * (std::log(2 * M_PI * var_global) + (yt - ym) * (yt - ym) / var_global);
    const double res = yt - ym - slope * (xt - xm);
    nll_linear += 0.5 * (std::log(2 * M_PI * var_linear) + res * res / var_linear);
  }
  nll_global /= test.values.rows();
  nll_linear /= test.values.rows();
  CAPTURE(nll);
  CAPTURE(nll_global);
  CAPTURE(nll_linear);
  CHECK(std::isfinite(nll));
  QUALITY_CHECK(nll < nll_linear - 0.5);
  QUALITY_CHECK(nll < nll_global - 0.5);
  // 90% intervals should cover roughly 90% of 500 test points.
  QUALITY_CHECK(s.metrics["coverage"].get<double>() > 0.8);
  QUALITY_CHECK(s.metrics["coverage"].get<double>() < 0.97);
}

TEST_CASE("samples are bimodal where the data is, unimodal where it is not") {
  const TrainedModel& t = bimodal_model();
  const fs::path input = t.dir / "x.csv";
  {
    std::ofstream out(input);
    out << "x\n-1.5\n1.5\n";
  }
  SampleOptions o;
  o.model_path = t.model_path;
  o.data_path = input.string();
  o.output_path = (t.dir / "samples.csv").string();
  o.draws = 4000;
  o.threads = 2;
  CHECK(run_sample(o) == 2);
  const Table samples = read_table(o.output_path, {});
  REQUIRE(samples.rows() == 8000);
  // At x = -1.5 the data has modes at sin(-3) +- 1.5 = 1.36 and -1.64 with weights 0.7/0.3.
  const double upper = std::sin(-3.0) + 1.5, lower = std::sin(-3.0) - 1.5;
  int near_upper = 0, near_lower = 0, between = 0, n = 0;
  for (std::size_t r = 0; r < samples.rows(); ++r) {
    if (samples.values(r, 0) != 0) continue;
    const double y = samples.values(r, 2);
    ++n;
    if (std::abs(y - upper) < 0.6) ++near_upper;
    if (std::abs(y - lower) < 0.6) ++near_lower;
    if (std::abs(y - 0.5 * (upper + lower)) < 0.4) ++between;
  }
  CAPTURE(near_upper);
  CAPTURE(near_lower);
  CAPTURE(between);
  CHECK(n == 4000);
  QUALITY_CHECK(std::abs(near_upper / 4000.0 - 0.7) < 0.15);
  QUALITY_CHECK(std::abs(near_lower / 4000.0 - 0.3) < 0.15);
  QUALITY_CHECK(between / 4000.0 < 0.05);
  // At x = 1.5 the data is unimodal and skewed around 0.75: nothing near the x<0 modes.
  int far = 0;
  for (std::size_t r = 0; r < samples.rows(); ++r) {
    if (samples.values(r, 0) == 1 && std::abs(samples.values(r, 2) - 0.75) > 2.5) ++far;
  }
  QUALITY_CHECK(far / 4000.0 < 0.02);
}

TEST_CASE("importance-sampling log-density, mean and Langevin samples agree with grid normalisation") {
  const TrainedModel& t = bimodal_model();
  const Checkpoint c = load_checkpoint(t.model_path);
  const EnergyModel model(c.architecture);
  const Table test = read_table(kData + "bimodal_test.csv", {});
  const int n = 100;
  Matrix<float> x(1, n), y(1, n);
  for (int r = 0; r < n; ++r) {
    x(0, r) = static_cast<float>(c.x_scaler.to_standard(0, test.values(r, 0)));
    y(0, r) = static_cast<float>(c.y_scaler.to_standard(0, test.values(r, 1)));
  }
  const std::vector<double> grid = grid_log_density(model, c.params, x, y, -8, 8, 4096);
  const ImportanceSample is = importance_sample(model, c.params, x, 2048, 3, 0);
  const std::vector<double> estimate = log_density(model, c.params, is, y);
  double mean_abs = 0;
  for (int r = 0; r < n; ++r) mean_abs += std::abs(grid[r] - estimate[r]) / n;
  CAPTURE(mean_abs);
  QUALITY_CHECK(mean_abs < 0.05);

  // Mean of p(y|x) for the first row: SNIS against the grid, and MALA samples against both.
  const int points = 4096;
  Matrix<float> grid_y(1, points);
  for (int j = 0; j < points; ++j) grid_y(0, j) = static_cast<float>(-8.0 + 16.0 * j / (points - 1));
  const Matrix<float> hx = model.x_features(c.params.data(), Matrix<float>(x.col(0)));
  const RowVector<float> f = model.energy(c.params.data(), hx, grid_y, points);
  const double top = f.maxCoeff();
  double z = 0, m1 = 0;
  for (int j = 0; j < points; ++j) {
    const double w = std::exp(f(j) - top);
    z += w;
    m1 += w * grid_y(0, j);
  }
  const double grid_mean = m1 / z;
  double snis_mean = 0;
  for (int m = 0; m < is.samples; ++m) snis_mean += is.weights(m, 0) * is.y(0, m);
  QUALITY_CHECK(std::abs(snis_mean - grid_mean) < 0.05);
  const ImportanceSample one = importance_sample(model, c.params, Matrix<float>(x.col(0)), 4096, 5, 0);
  const Matrix<float> draws = resample(model, c.params, one, 4000, 10, 0.1, 5, 0);
  QUALITY_CHECK(std::abs(draws.cast<double>().mean() - grid_mean) < 0.08);
}

TEST_CASE("parameter average: a warm-up decay, then the given one; it is what is judged and kept") {
  // One step from 0 towards 1: the average moves by 1 - d_t, d_t = min(decay, (1 + t) / (10 + t)).
  const ParamVector ones{1.0f, 1.0f};
  ParamVector average{0.0f, 0.0f};
  update_parameter_average(average, ones, 0.99, 1);  // d_1 = 2/11: the initialisation is forgotten fast
  CHECK(average[0] == doctest::Approx(9.0 / 11.0).epsilon(1e-6));
  average = {0.0f, 0.0f};
  update_parameter_average(average, ones, 0.99, 1000);  // d = 1001/1010 > 0.99: the given decay
  CHECK(average[1] == doctest::Approx(0.01).epsilon(1e-4));

  // train(): the parameters returned (and judged on the validation rows) are the average,
  // not the optimiser's; without averaging they are the optimiser's and none is kept.
  Rng rng(7, 0);
  const int n = 96;
  Matrix<float> x(2, n), y(1, n);
  for (int i = 0; i < n; ++i) {
    x(0, i) = static_cast<float>(rng.normal());
    x(1, i) = static_cast<float>(rng.normal());
    y(0, i) = static_cast<float>(0.8 * x(0, i) + 0.3 * rng.normal());
  }
  const EnergyModel model(ebm::testing::small_architecture(Activation::relu, 2, 1));
  TrainSettings s;
  s.epochs = 3;
  s.samples = 4;
  s.seed = 5;
  const Matrix<float> none(2, 0), none_y(1, 0);
  s.average_decay = 0.99;
  const TrainResult averaged = train(model, x, y, none, none_y, s);
  REQUIRE(averaged.state.average_params.size() == averaged.params.size());
  CHECK(averaged.params == averaged.state.average_params);
  CHECK(averaged.params != averaged.state.params);
  s.average_decay = 0;
  const TrainResult plain = train(model, x, y, none, none_y, s);
  CHECK(plain.params == plain.state.params);
  CHECK(plain.state.average_params.empty());
  // The optimiser's path does not depend on the average.
  CHECK(plain.state.params == averaged.state.params);
}

namespace {

// n rows (columns) of y = slope x + noise e with x, e ~ N(0, 1), drawn from `rng` row by row.
void linear_rows(Rng& rng, int n, double slope, double noise, Matrix<float>& x, Matrix<float>& y) {
  x.resize(1, n);
  y.resize(1, n);
  for (int i = 0; i < n; ++i) {
    x(0, i) = static_cast<float>(rng.normal());
    y(0, i) = static_cast<float>(slope * x(0, i) + noise * rng.normal());
  }
}

}  // namespace

TEST_CASE("early stopping: the run ends `early_stopping` epochs after its best validation epoch") {
  // Validation rows that contradict the training rows (slope -0.8 against +0.8): once the
  // model has learned the training relation, the validation NLL only gets worse, so the
  // best epoch comes early and the run must stop exactly N epochs after it.
  Rng rng(11, 0);
  Matrix<float> x, y, x_valid, y_valid;
  linear_rows(rng, 96, 0.8, 0.2, x, y);
  linear_rows(rng, 32, -0.8, 0.2, x_valid, y_valid);
  const EnergyModel model(ebm::testing::small_architecture(Activation::relu, 1, 1));
  TrainSettings s;
  s.epochs = 200;
  s.samples = 4;
  s.seed = 3;
  s.early_stopping = 5;
  const TrainResult stopped = train(model, x, y, x_valid, y_valid, s);
  REQUIRE(stopped.stopped_early);
  REQUIRE(stopped.best_epoch >= 1);
  CHECK(static_cast<int>(stopped.history.size()) == stopped.best_epoch + s.early_stopping);
  // The kept epoch is the one with the lowest validation score (by default the NLL at
  // T = 1); none after it is lower.
  const double best = stopped.history[static_cast<std::size_t>(stopped.best_epoch - 1)].valid_score;
  for (const EpochRecord& r : stopped.history) CHECK(r.valid_score >= best);
  // Off (0): every planned epoch runs.
  s.epochs = static_cast<int>(stopped.history.size()) + 8;
  s.early_stopping = 0;
  const TrainResult full = train(model, x, y, x_valid, y_valid, s);
  CHECK_FALSE(full.stopped_early);
  CHECK(static_cast<int>(full.history.size()) == s.epochs);
}

TEST_CASE("epoch score: the tempered validation NLL is the best over the temperature grid, and judges the epochs") {
  // A data set whose noise differs between training (0.1) and validation (0.5) rows: the
  // fitted model is over-confident on the validation rows, so T > 1 must pay there.
  Rng rng(21, 0);
  Matrix<float> x, y, x_valid, y_valid;
  linear_rows(rng, 512, 0.8, 0.1, x, y);
  linear_rows(rng, 64, 0.8, 0.5, x_valid, y_valid);
  Architecture a = ebm::testing::small_architecture(Activation::relu, 1, 1);
  a.hidden = 32;  // enough to learn the training rows' narrow density
  const EnergyModel model(a);
  TrainSettings s;
  s.epochs = kSanitized ? 2 : 20;
  s.samples = 16;
  s.learning_rate = 3e-3;
  s.seed = 5;
  s.early_stopping = 0;
  s.tempered_epoch_score = true;  // --epoch-score tempered
  const TrainResult run = train(model, x, y, x_valid, y_valid, s);
  REQUIRE(static_cast<int>(run.history.size()) == s.epochs);

  SUBCASE("evaluate_nll: the minimum over T = 2^(j/8) of the mean -log p_T that tempering_data gives") {
    const int samples = 32;
    const std::uint64_t seed = 77;
    const NllEstimate e = evaluate_nll(model, run.params, x_valid, y_valid, samples, seed, 2, {}, nullptr, true);
    const NllEstimate raw = evaluate_nll(model, run.params, x_valid, y_valid, samples, seed, 1);
    CHECK(raw.nll == e.nll);  // the same estimate, whatever the threads and the search
    CHECK(raw.proposal_nll == e.proposal_nll);
    CHECK(std::isnan(raw.tempered_nll));
    const std::vector<TemperingData> t{tempering_data(model, run.params, x_valid, y_valid, samples, seed, 1, {})};
    double best = INFINITY, best_t = NAN;
    for (int j = 0; j < kEpochScoreTemperatures; ++j) {
      const double log_t = kEpochScoreTemperatureStep * j * std::log(2.0);
      const double nll = tempered_mixture_nll(t, log_t);
      if (nll < best) best = nll, best_t = std::exp(log_t);
    }
    // The same formula (tempered_log_density) on the same draws; the observed energy comes
    // by two float routes (energies_by_row, EnergyModel::energy), a few 1e-8 apart.
    CHECK(e.tempered_nll == doctest::Approx(best).epsilon(1e-6));
    CHECK(e.temperature == doctest::Approx(best_t).epsilon(1e-12));
    // Without a support, T = 1 is the same SNIS estimate as the reported density.
    CHECK(tempered_mixture_nll(t, 0.0) == doctest::Approx(e.nll).epsilon(1e-6));
    // The same model with its energy sharpened three times, f -> 3 f, is judged at T near
    // 3, where p_T is the model's own density again.
    if (!kSanitized) {  // needs the trained model
      CHECK(e.temperature > 1.0);
      CHECK(e.tempered_nll < e.nll);
      // The same model with its energy sharpened by sqrt 2 = 2^(4/8), f -> 2^(1/2) f: its
      // tempered NLL at T is the model's at T / 2^(1/2) (same draws: the proposal is
      // unchanged), so the search must land four grid steps higher on the same value.
      REQUIRE(e.temperature <= 2.9);  // room for four steps below 4
      ParamVector sharp = run.params;
      model.scale_energy(sharp.data(), static_cast<float>(std::sqrt(2.0)));
      const NllEstimate s2 = evaluate_nll(model, sharp, x_valid, y_valid, samples, seed, 1, {}, nullptr, true);
      CHECK(s2.temperature == doctest::Approx(e.temperature * std::sqrt(2.0)).epsilon(1e-12));
      CHECK(s2.tempered_nll == doctest::Approx(e.tempered_nll).epsilon(1e-5));
      CHECK(s2.nll > e.nll + 0.1);
    }
  }

  SUBCASE("train: the tempered score is recorded and picks the kept epoch; raw without calibration") {
    std::size_t argmin = 0;
    for (std::size_t i = 0; i < run.history.size(); ++i) {
      const EpochRecord& r = run.history[i];
      CHECK(r.valid_temperature >= 1.0);
      CHECK(r.valid_temperature <= 4.0);
      CHECK(r.valid_score <= r.valid_nll + 1e-9);  // T = 1 is on the grid (same value up to rounding)
      if (r.valid_score < run.history[argmin].valid_score) argmin = i;
    }
    CHECK(run.best_epoch == static_cast<int>(argmin) + 1);
    for (const bool tempered : {false, true}) {
      TrainSettings raw = s;
      raw.tempered_epoch_score = tempered;  // false: --epoch-score raw
      raw.calibrate = !tempered;            // tempered but not calibrated: judged at T = 1 too
      const TrainResult r = train(model, x, y, x_valid, y_valid, raw);
      for (const EpochRecord& e : r.history) {
        CHECK(e.valid_score == e.valid_nll);
        CHECK(std::isnan(e.valid_temperature));
      }
    }
  }
}
