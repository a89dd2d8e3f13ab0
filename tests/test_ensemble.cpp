// Ensembles (ensemble.h, docs/maths.md §8c): p(y|x) = sum_n w_n p_n(y|x), each member
// normalised on its own. The mixture's reported density integrates to 1, equals the
// average (weighted sum) of the members' densities computed separately, its estimators read
// the union of the members' weighted candidates; checkpoints keep members 2..N under
// "ensemble" (with their own architectures and weights: version 4); members trained apart
// and merged predict exactly what an ensemble trained at once predicts; incompatible
// members are refused; the shared temperature, and the x-embedding mix's weight with it,
// minimise the mixture's NLL.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/ensemble.h"
#include "ebm/errors.h"
#include "ebm/settings.h"
#include "ebm/training.h"

using namespace ebm;
using namespace ebm::testing;
namespace fs = std::filesystem;

namespace {

// The trained bimodal model plus a second, different normalised member: the same network
// at temperature 1.6 with a proposal twice as wide (a flatter density).
Checkpoint two_member_checkpoint() {
  Checkpoint c = load_checkpoint(bimodal_model().model_path);
  const EnergyModel model(c.architecture);
  ParamVector flatter = c.params;
  model.scale_energy(flatter.data(), static_cast<float>(1.0 / 1.6));
  model.shift_proposal_log_variances(flatter.data(), static_cast<float>(2.0 * std::log(2.0)));
  c.more_members.push_back({flatter, nlohmann::ordered_json::object(), {}});
  return c;
}

}  // namespace

TEST_CASE("ensemble: the mixture's reported density integrates to 1 on every row") {
  if (kSanitized) return;  // needs the fully trained model
  const Checkpoint c = two_member_checkpoint();
  const EnergyModel model(c.architecture);
  const std::vector<Member> members = ensemble_members(c);
  REQUIRE(members.size() == 2);
  const int count = 12;
  const HeldOut rows = held_out_rows(c, count);
  const EnsembleSample es =
      ensemble_importance_sample(members, rows.x, 1024, 7, 0, &rows.streams, standardised_support(c));
  // Integrated here by the trapezoid rule on exp(ensemble_log_density), independently of
  // ensemble_reported_mass, over the support widened by half its width on each side.
  const TargetSupport support = standardised_support(c);
  const double pad = 0.5 * (support.hi[0] - support.lo[0]);
  const double lo = support.lo[0] - pad, hi = support.hi[0] + pad;
  const int points = 8001;
  std::vector<double> mass(count, 0.0);
  for (int j = 0; j < points; ++j) {
    const double y = lo + (hi - lo) * j / (points - 1);
    const Matrix<float> at = Matrix<float>::Constant(1, count, static_cast<float>(y));
    const std::vector<double> lp = ensemble_log_density(members, es, at);
    const double weight = (j == 0 || j + 1 == points ? 0.5 : 1.0) * (hi - lo) / (points - 1);
    for (int e = 0; e < count; ++e) mass[e] += weight * std::exp(lp[e]);
  }
  const std::vector<double> reported = ensemble_reported_masses(members, es, lo, hi, 20001);
  REQUIRE(reported.size() == static_cast<std::size_t>(count));
  for (int e = 0; e < count; ++e) {
    CHECK(mass[e] == doctest::Approx(1.0).epsilon(0.005));
    CHECK(reported[e] == doctest::Approx(1.0).epsilon(0.005));
  }
}

TEST_CASE("ensemble: log-density is the log of the average of the members' densities computed separately") {
  const Checkpoint c = two_member_checkpoint();
  const EnergyModel model(c.architecture);
  const std::vector<Member> members = ensemble_members(c);
  const HeldOut rows = held_out_rows(c, 6);
  const TargetSupport support = standardised_support(c);
  const EnsembleSample es = ensemble_importance_sample(members, rows.x, 256, 11, 0, &rows.streams, support);
  const Matrix<float> y = Matrix<float>::Constant(1, 6, 0.3f);
  const std::vector<double> mixture = ensemble_log_density(members, es, y);
  std::vector<std::vector<double>> separate;
  std::vector<ImportanceSample> alone;
  for (int n = 0; n < 2; ++n) {
    alone.push_back(
        importance_sample(model, members[n].params, rows.x, 256, member_seed(11, n), 0, &rows.streams, support));
    separate.push_back(log_density(model, members[n].params, alone.back(), y));
  }
  CHECK(member_seed(11, 0) == 11);
  CHECK(member_seed(11, 1) != 11);
  for (int e = 0; e < 6; ++e) {
    const double average = 0.5 * (std::exp(separate[0][e]) + std::exp(separate[1][e]));
    CHECK(mixture[e] == doctest::Approx(std::log(average)).epsilon(1e-12));
    // The two members really differ (the test could not pass by one member alone).
    CHECK(std::abs(separate[0][e] - separate[1][e]) > 1e-3);
    // Estimators on the mixture's candidates: the mean is the members' average mean, the
    // weights sum to 1.
    const double mean = 0.5 * (weighted_moments(alone[0], e, 0).mean + weighted_moments(alone[1], e, 0).mean);
    CHECK(weighted_moments(es.combined(), e, 0).mean == doctest::Approx(mean).epsilon(1e-9));
    CHECK(es.combined().weights.col(e).sum() == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(es.combined().ess[e] > alone[0].ess[e]);
  }
  // A single member gives exactly the single-model figures.
  const std::vector<Member> one{{model, members[0].params, 1.0}};
  const EnsembleSample single = ensemble_importance_sample(one, rows.x, 256, 11, 0, &rows.streams, support);
  const std::vector<double> lp = ensemble_log_density(one, single, y);
  const ImportanceSample is = importance_sample(model, members[0].params, rows.x, 256, 11, 0, &rows.streams, support);
  CHECK(lp == log_density(model, members[0].params, is, y));
}

TEST_CASE("ensemble: resampling and modes come from the mixture") {
  const Checkpoint c = two_member_checkpoint();
  const EnergyModel model(c.architecture);
  const std::vector<Member> members = ensemble_members(c);
  const HeldOut rows = held_out_rows(c, 2);
  const EnsembleSample es =
      ensemble_importance_sample(members, rows.x, 512, 3, 0, &rows.streams, standardised_support(c));
  const Matrix<float> draws = ensemble_resample(members, es, 400, 3, 0.05, 3, 0, &rows.streams);
  REQUIRE(draws.cols() == 800);
  CHECK(draws.allFinite());
  CHECK(draws == ensemble_resample(members, es, 400, 3, 0.05, 3, 0, &rows.streams));  // deterministic
  for (int e = 0; e < 2; ++e) {
    const Moments m = weighted_moments(es.combined(), e, 0);
    const double mean = draws.middleCols(e * 400, 400).mean();
    CHECK(std::abs(mean - m.mean) < 0.25 * m.std);
  }
  const Matrix<float> modes = ensemble_modes(members, es, 20, 0.1);
  const std::vector<double> at_mode = ensemble_log_density(members, es, modes);
  const std::vector<double> at_member_1 =
      ensemble_log_density(members, es, find_modes(model, members[0].params, es.members[0], 20, 0.1));
  for (int e = 0; e < 2; ++e) CHECK(at_mode[e] >= at_member_1[e]);
}

TEST_CASE("ensemble checkpoint: round trip, single-member layout unchanged, malformed members named") {
  const Checkpoint c = two_member_checkpoint();
  const auto json = checkpoint_to_json(c);
  REQUIRE(json.contains("ensemble"));
  const Checkpoint back = checkpoint_from_json(nlohmann::ordered_json::parse(json.dump()), "text");
  REQUIRE(back.more_members.size() == 1);
  CHECK(back.more_members[0].params == c.more_members[0].params);
  CHECK(back.params == c.params);
  CHECK(checkpoint_to_json(back).dump(1) == json.dump(1));
  Checkpoint single = c;
  single.more_members.clear();
  CHECK_FALSE(checkpoint_to_json(single).contains("ensemble"));

  auto expect_error = [&](nlohmann::ordered_json broken, const std::string& message) {
    CAPTURE(message);
    try {
      checkpoint_from_json(broken, "e.json");
      FAIL("accepted");
    } catch (const DataError& e) {
      CHECK(std::string(e.what()).find("e.json: " + message) != std::string::npos);
    }
  };
  auto broken = json;
  broken["ensemble"] = 3;
  expect_error(broken, "'ensemble' must be an array of members");
  broken = json;
  broken["ensemble"][0].erase("parameters");
  expect_error(broken, "missing key 'ensemble[0].parameters'");
  broken = json;
  const std::string block = json["parameters"].begin().key();
  broken["ensemble"][0]["parameters"][block]["shape"] = {1, 1};
  expect_error(broken, "'ensemble[0].parameters." + block + ".shape' is [1,1]");
  broken = json;
  broken["ensemble"][0]["parameters"]["extra"] = json["parameters"][block];
  expect_error(broken, "unexpected parameter 'ensemble[0].parameters.extra'");
}

TEST_CASE("merge: refuses incompatible members, naming what differs") {
  const Checkpoint a = load_checkpoint(bimodal_model().model_path);
  auto refused = [&](const Checkpoint& b, const std::string& what) {
    CAPTURE(what);
    try {
      merge_checkpoints({a, b}, {"a.json", "b.json"});
      FAIL("merged");
    } catch (const DataError& e) {
      CHECK(std::string(e.what()).find("b.json: cannot be merged with a.json: " + what) != std::string::npos);
    }
  };
  Checkpoint b = a;
  b.y_scaler.mean[0] += 1e-9;
  refused(b, "normalization (y_mean) differs");
  b = a;
  b.targets = {"z"};
  refused(b, "targets (y vs z) differs");
  b = a;
  b.y_support_hi[0] += 1;
  refused(b, "support differs");
  b = a;
  b.y_lattice[0].step = 0.5;
  refused(b, "lattice differs");
  const Checkpoint merged = merge_checkpoints({a, a, two_member_checkpoint()}, {"a", "b", "c"});
  CHECK(member_parameters(merged).size() == 4);
}

namespace {

// A two-member ensemble of small networks on `data`, trained for `epochs` with `seed`
// (quiet, two threads): quick to train, and enough to exercise every ensemble step.
TrainOptions small_ensemble_options(const std::string& data, int epochs, std::uint64_t seed) {
  TrainOptions o;
  o.data_path = data;
  o.targets = {"y"};
  o.architecture.hidden = 16;
  o.settings.epochs = epochs;
  o.settings.samples = 16;
  o.settings.seed = seed;
  o.settings.threads = 2;
  o.verbosity = 0;
  o.ensemble = 2;
  return o;
}

}  // namespace

TEST_CASE("members trained apart and merged predict exactly what --ensemble 2 predicts") {
  const fs::path dir = fs::temp_directory_path() / ("ebm-test-ensemble-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  TrainOptions o = small_ensemble_options(kData + "bimodal_train.csv", 2, 5);
  o.model_path = (dir / "both.json").string();
  const TrainSummary both = run_train(o);
  REQUIRE(both.checkpoint.more_members.size() == 1);
  CHECK(both.checkpoint.more_members[0].results["member_seed"] == 6);
  o.ensemble = 1;
  o.model_path = (dir / "first.json").string();
  run_train(o);
  o.first_member = 1;
  o.model_path = (dir / "second.json").string();
  run_train(o);
  Checkpoint merged =
      run_merge({(dir / "first.json").string(), (dir / "second.json").string()}, (dir / "merged.json").string());
  // The ensemble trained at once also fits a shared temperature on the validation rows
  // (--merge sees no data); with it applied, the merged members are the same numbers.
  const double temperature = both.checkpoint.results.at("ensemble_temperature").get<double>();
  CHECK(temperature != 1.0);
  CHECK(member_parameters(merged) != member_parameters(both.checkpoint));
  const EnergyModel model(merged.architecture);
  model.scale_energy(merged.params.data(), static_cast<float>(1.0 / temperature));
  for (EnsembleMember& m : merged.more_members) model.scale_energy(m.params.data(), static_cast<float>(1.0 / temperature));
  CHECK(member_parameters(merged) == member_parameters(both.checkpoint));
  save_checkpoint(merged, (dir / "merged.json").string());
  for (const char* model : {"both", "merged"}) {
    PredictOptions p;
    p.model_path = (dir / (std::string(model) + ".json")).string();
    p.data_path = kData + "bimodal_test.csv";
    p.output_path = (dir / (std::string(model) + ".csv")).string();
    p.samples = 64;
    p.intervals = {0.9};
    p.mode = true;
    p.logpdf = true;
    run_predict(p);
  }
  const std::string predicted = read_file(dir / "both.csv");
  CHECK(predicted.size() > 1000);
  CHECK(predicted == read_file(dir / "merged.csv"));
  fs::remove_all(dir);
}

namespace {

// Quadrature data of the energy f(y) = -(y - shift)^2 / 2 (a unit Gaussian, up to its
// constant) on a uniform grid over [-12, 12], observed at `ys`: log_base = log(step).
TemperingData gaussian_tempering(const std::vector<double>& ys, double shift) {
  const int nodes = 4001;
  const double lo = -12, step = 24.0 / (nodes - 1);
  const auto n = static_cast<Eigen::Index>(ys.size());
  TemperingData t{Eigen::MatrixXd(nodes, n), Eigen::MatrixXd::Constant(nodes, n, std::log(step)), Eigen::VectorXd(n)};
  for (Eigen::Index i = 0; i < n; ++i) {
    for (int c = 0; c < nodes; ++c) t.draw_energy(c, i) = -0.5 * std::pow(lo + c * step - shift, 2);
    t.observed_energy(i) = -0.5 * std::pow(ys[static_cast<std::size_t>(i)] - shift, 2);
  }
  return t;
}

}  // namespace

TEST_CASE("shared temperature: the mixture NLL is exact, and the fitted T is the known optimum") {
  std::vector<double> ys;
  double second_moment = 0;
  for (int i = 0; i < 101; ++i) {
    ys.push_back(0.5 * (-1.5 + 3.0 * i / 100.0));
    second_moment += ys.back() * ys.back() / 101.0;
  }
  // Two identical unit Gaussians: the mixture is N(0, T) at temperature T, whose NLL is
  // least at T = mean(y^2) (0.19 here, a sharpening).
  const std::vector<TemperingData> same{gaussian_tempering(ys, 0.0), gaussian_tempering(ys, 0.0)};
  double before = 0, after = 0;
  const double t = fit_mixture_temperature(same, std::log(0.05), std::log(4.0), nullptr, &before, &after);
  CHECK(t == doctest::Approx(second_moment).epsilon(1e-5));
  const double log_2pi = std::log(2.0 * M_PI);
  CHECK(before == doctest::Approx(0.5 * log_2pi + 0.5 * second_moment).epsilon(1e-9));
  CHECK(after == doctest::Approx(0.5 * (log_2pi + std::log(second_moment) + 1.0)).epsilon(1e-7));
  // A range that excludes the optimum ends at its edge; one where nothing beats T = 1 gives 1.
  CHECK(fit_mixture_temperature(same, std::log(0.5), std::log(4.0)) == doctest::Approx(0.5).epsilon(1e-5));
  CHECK(fit_mixture_temperature(same, 0.0, std::log(4.0)) == 1.0);
  // Two different members: (1/2)(N(0,1) + N(1,1)) at the observed points, computed directly.
  const std::vector<TemperingData> pair{gaussian_tempering(ys, 0.0), gaussian_tempering(ys, 1.0)};
  double expected = 0;
  for (double y : ys) {
    const double p = 0.5 * (std::exp(-0.5 * y * y) + std::exp(-0.5 * (y - 1) * (y - 1))) / std::sqrt(2 * M_PI);
    expected -= std::log(p) / 101.0;
  }
  CHECK(tempered_mixture_nll(pair, 0.0) == doctest::Approx(expected).epsilon(1e-9));
  // Weights: a row of weight 0 is ignored.
  std::vector<double> weights(ys.size(), 1.0);
  weights[0] = 0.0;
  const std::vector<double> rest(ys.begin() + 1, ys.end());
  const std::vector<TemperingData> pair_rest{gaussian_tempering(rest, 0.0), gaussian_tempering(rest, 1.0)};
  CHECK(tempered_mixture_nll(pair, 0.3, &weights) == doctest::Approx(tempered_mixture_nll(pair_rest, 0.3)).epsilon(1e-12));
}

TEST_CASE("row_log_densities: every row's log p(y|x) at T = 1, the terms of the mixture NLL of one member") {
  const std::vector<double> ys{-1.0, 0.0, 0.5, 2.0};
  const TemperingData t = gaussian_tempering(ys, 0.5);  // N(0.5, 1) on a fine grid
  const std::vector<double> log_density = row_log_densities(t);
  REQUIRE(log_density.size() == ys.size());
  double mean = 0;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    const double exact = -0.5 * std::log(2.0 * M_PI) - 0.5 * std::pow(ys[i] - 0.5, 2);
    CHECK(log_density[i] == doctest::Approx(exact).epsilon(1e-9));
    mean += log_density[i] / static_cast<double>(ys.size());
  }
  CHECK(-mean == doctest::Approx(tempered_mixture_nll({t}, 0.0)).epsilon(1e-12));
}

TEST_CASE("paired_difference: mean and standard error of per-row differences, weighted by effective rows") {
  // d = b - a = {1, 2, 3, 4}: mean 2.5, sample variance 5/3, standard error sqrt(5/12).
  const std::vector<double> a{0.0, 1.0, -1.0, 0.5}, b{1.0, 3.0, 2.0, 4.5};
  const PairedDifference d = paired_difference(a, b);
  CHECK(d.mean == doctest::Approx(2.5).epsilon(1e-12));
  CHECK(d.standard_error == doctest::Approx(std::sqrt(5.0 / 12.0)).epsilon(1e-12));
  // Equal weights change nothing; a zero weight drops the row.
  const std::vector<double> twos(4, 2.0), drop_last{1.0, 1.0, 1.0, 0.0};
  const PairedDifference equal = paired_difference(a, b, &twos);
  CHECK(equal.mean == doctest::Approx(d.mean).epsilon(1e-12));
  CHECK(equal.standard_error == doctest::Approx(d.standard_error).epsilon(1e-12));
  const PairedDifference dropped = paired_difference(a, b, &drop_last);
  CHECK(dropped.mean == doctest::Approx(2.0).epsilon(1e-12));  // {1, 2, 3}: variance 1, n 3
  CHECK(dropped.standard_error == doctest::Approx(std::sqrt(1.0 / 3.0)).epsilon(1e-12));
  // One row: no spread to estimate.
  CHECK(std::isinf(paired_difference({0.0}, {1.0}).standard_error));
}

TEST_CASE("--ensemble auto: 2 members below 100,000 training rows, then 1") {
  CHECK(auto_ensemble_size(1) == 2);
  CHECK(auto_ensemble_size(kSmallDataRows - 1) == 2);
  CHECK(auto_ensemble_size(kSmallDataRows) == 2);
  CHECK(auto_ensemble_size(kLargeDataRows - 1) == 2);
  CHECK(auto_ensemble_size(kLargeDataRows) == 1);
  CHECK(auto_ensemble_size(10 * kLargeDataRows) == 1);
}

TEST_CASE("--samples auto: 64 noise samples, 32 with NCE from 1,000 training rows") {
  CHECK(auto_noise_samples(kSmallDataRows - 1, Objective::nce) == 64);
  CHECK(auto_noise_samples(kSmallDataRows, Objective::nce) == 32);
  CHECK(auto_noise_samples(10 * kLargeDataRows, Objective::nce) == 32);
  for (Objective other : {Objective::nce_plus, Objective::ml_is, Objective::kld_is, Objective::ml_mcmc, Objective::dsm,
                          Objective::sm}) {
    CHECK(auto_noise_samples(kSmallDataRows, other) == 64);
  }
}

TEST_CASE("--lr auto: 1e-3, 2e-3 with NCE from 1,000 training rows") {
  CHECK(auto_learning_rate(kSmallDataRows - 1, Objective::nce) == 1e-3);
  CHECK(auto_learning_rate(kSmallDataRows, Objective::nce) == 2e-3);
  CHECK(auto_learning_rate(10 * kLargeDataRows, Objective::nce) == 2e-3);
  for (Objective other : {Objective::nce_plus, Objective::ml_is, Objective::kld_is, Objective::ml_mcmc, Objective::dsm,
                          Objective::sm}) {
    CHECK(auto_learning_rate(kSmallDataRows, other) == 1e-3);
  }
}

TEST_CASE("--refit: each member is retrained on all rows for its best epoch count and keeps its calibration") {
  const fs::path dir = fs::temp_directory_path() / ("ebm-test-refit-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // 300 training rows and 100 validation rows (--valid) from the bimodal data.
  const Table all = read_table(kData + "bimodal_train.csv", {}, {"x", "y"});
  const int train_rows = 300, valid_rows = 100;
  {
    std::ofstream train(dir / "train.csv"), valid(dir / "valid.csv");
    train << "x,y\n";
    valid << "x,y\n";
    for (int r = 0; r < train_rows + valid_rows; ++r) {
      (r < train_rows ? train : valid) << format_number(all.values(r, 0)) << "," << format_number(all.values(r, 1))
                                       << "\n";
    }
  }
  TrainOptions o = small_ensemble_options((dir / "train.csv").string(), 8, 3);
  o.valid_path = (dir / "valid.csv").string();
  o.settings.valid_fraction = 0;
  o.model_path = (dir / "held_out.json").string();
  const Checkpoint held_out = run_train(o).checkpoint;
  o.refit = true;
  o.model_path = (dir / "refit.json").string();
  const Checkpoint refit = run_train(o).checkpoint;
  CHECK(refit.results.at("refit_rows") == train_rows + valid_rows);
  // The first run (choice of epochs, calibrations, shared temperature) is the same.
  const double shared = held_out.results.at("ensemble_temperature").get<double>();
  CHECK(refit.results.at("ensemble_temperature").get<double>() == shared);
  CHECK(shared != 1.0);
  // Each member again: train() on the training rows followed by the validation rows, in
  // the first run's standardised units, for the member's best epoch with its seed, then
  // its proposal width, its temperature and the shared temperature applied.
  Matrix<float> x(1, train_rows + valid_rows), y(1, train_rows + valid_rows);
  for (int r = 0; r < train_rows + valid_rows; ++r) {
    x(0, r) = static_cast<float>(refit.x_scaler.to_standard(0, all.values(r, 0)));
    y(0, r) = static_cast<float>(refit.y_scaler.to_standard(0, all.values(r, 1)));
  }
  const EnergyModel model(refit.architecture);
  const std::vector<ParamVector> refit_members = member_parameters(refit);
  const std::vector<ParamVector> held_out_members = member_parameters(held_out);
  REQUIRE(refit_members.size() == 2);
  for (int m = 0; m < 2; ++m) {
    const nlohmann::ordered_json& first = m == 0 ? held_out.results : held_out.more_members[0].results;
    const nlohmann::ordered_json& again = m == 0 ? refit.results : refit.more_members[0].results;
    CAPTURE(m);
    CHECK(again.at("refit_epochs") == first.at("best_epoch"));
    CHECK(again.at("temperature") == first.at("temperature"));
    TrainSettings s = o.settings;
    s.seed = 3 + static_cast<std::uint64_t>(m);
    s.epochs = first.at("best_epoch").get<int>();
    const Matrix<float> none(1, 0);
    ParamVector expected = train(model, x, y, none, none, s).params;
    model.shift_proposal_log_variances(expected.data(),
                                       static_cast<float>(2.0 * std::log(first.at("proposal_scale").get<double>())));
    model.scale_energy(expected.data(), static_cast<float>(1.0 / first.at("temperature").get<double>()));
    model.scale_energy(expected.data(), static_cast<float>(1.0 / shared));
    CHECK(refit_members[static_cast<std::size_t>(m)] == expected);
    CHECK(refit_members[static_cast<std::size_t>(m)] != held_out_members[static_cast<std::size_t>(m)]);
  }
  // ebm-inspect names the refit and each member's epochs.
  InspectOptions inspect;
  inspect.model_path = (dir / "refit.json").string();
  const nlohmann::ordered_json report = run_inspect(inspect);
  CHECK(report.at("refit").at("rows") == train_rows + valid_rows);
  CHECK(report.at("refit").at("epochs") ==
        nlohmann::ordered_json::array({held_out.results.at("best_epoch"),
                                       held_out.more_members[0].results.at("best_epoch")}));
  CHECK(inspect_text(report).find("refit: every member trained again on all 400 rows") != std::string::npos);
  inspect.model_path = (dir / "held_out.json").string();
  CHECK(run_inspect(inspect).contains("refit") == false);
  // --refit keeps no resumable state.
  o.checkpoint_every = 2;
  o.ensemble = 1;
  CHECK_THROWS_AS(run_train(o), UsageError);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------- the x-embedding mix

namespace {

// One candidate per row, f = 0 on a base measure of 1, so that log p_T(y_i|x_i) is the
// observed energy over T: rows with given log-densities at T = 1.
TemperingData given_log_densities(const std::vector<double>& log_p) {
  const auto n = static_cast<Eigen::Index>(log_p.size());
  TemperingData t{Eigen::MatrixXd::Zero(1, n), Eigen::MatrixXd::Zero(1, n), Eigen::VectorXd(n)};
  for (Eigen::Index i = 0; i < n; ++i) t.observed_energy(i) = log_p[static_cast<std::size_t>(i)];
  return t;
}

}  // namespace

TEST_CASE("x-embedding mix: the other group's weight is the known optimum of the mixture NLL") {
  // Rows 1-2 are explained by the kept member only, row 3 by the other only (e^-50 ~ 0):
  // NLL(w) = -[2 log(1 - w) + log w] / 3, least at w = 1/3.
  const std::vector<TemperingData> members{given_log_densities({0.0, 0.0, -50.0}),
                                           given_log_densities({-50.0, -50.0, 0.0})};
  const std::vector<bool> other{false, true};
  CHECK(fit_group_weight(members, other, 0.0) == doctest::Approx(1.0 / 3.0).epsilon(1e-7));
  const double w = 0.25;
  const double exact = -(2 * std::log((1 - w) + w * std::exp(-50.0)) + std::log((1 - w) * std::exp(-50.0) + w)) / 3;
  CHECK(two_group_mixture_nll(members, other, 0.0, w) == doctest::Approx(exact).epsilon(1e-12));
  // Equal groups of two: each group's density is its members' average.
  const std::vector<TemperingData> four{given_log_densities({0.0}), given_log_densities({-1.0}),
                                        given_log_densities({-2.0}), given_log_densities({-3.0})};
  const double a = 0.5 * (1 + std::exp(-1.0)), b = 0.5 * (std::exp(-2.0) + std::exp(-3.0));
  CHECK(two_group_mixture_nll(four, {false, false, true, true}, 0.0, 0.4) ==
        doctest::Approx(-std::log(0.6 * a + 0.4 * b)).epsilon(1e-12));
  // A group that only hurts gets weight exactly 0 (the ends are candidates).
  const std::vector<TemperingData> worse{given_log_densities({0.0, -1.0}), given_log_densities({-5.0, -6.0})};
  CHECK(fit_group_weight(worse, other, 0.0) == 0.0);
  // Row weights: a row of weight 0 is ignored (rows 1 and 3 alone give w = 1/2).
  const std::vector<double> drop_second{1.0, 0.0, 1.0};
  CHECK(fit_group_weight(members, other, 0.0, &drop_second) == doctest::Approx(0.5).epsilon(1e-7));
}

TEST_CASE("x-embedding mix: the joint fit of temperature and weight reaches the grid's minimum") {
  std::vector<double> ys;
  for (int i = 0; i < 101; ++i) ys.push_back(-1.0 + 2.5 * i / 100.0);
  const std::vector<TemperingData> members{gaussian_tempering(ys, 0.0), gaussian_tempering(ys, 0.3),
                                           gaussian_tempering(ys, 1.2)};
  const std::vector<bool> other{false, false, true};
  const double log_lo = std::log(0.2), log_hi = std::log(4.0);
  const EnsembleCalibration cal = fit_two_group_calibration(members, other, log_lo, log_hi);
  double grid_best = INFINITY;
  for (int i = 0; i <= 200; ++i) {
    const double log_t = log_lo + (log_hi - log_lo) * i / 200.0;
    for (int j = 0; j <= 200; ++j)
      grid_best = std::min(grid_best, two_group_mixture_nll(members, other, log_t, j / 200.0));
  }
  CHECK(cal.nll_after <= grid_best + 1e-9);
  CHECK(cal.nll_after ==
        doctest::Approx(two_group_mixture_nll(members, other, std::log(cal.temperature), cal.other_weight))
            .epsilon(1e-12));
  CHECK(cal.other_weight > 0.0);
  CHECK(cal.other_weight < 1.0);
  // "Before" is T = 1 with equal weights (1/3 for the one other member of three), which
  // is the plain shared-temperature mixture.
  CHECK(cal.nll_before == doctest::Approx(tempered_mixture_nll(members, 0.0)).epsilon(1e-12));
  // The fit never does worse than the shared temperature alone with equal weights.
  double t_only = 0;
  fit_mixture_temperature(members, log_lo, log_hi, nullptr, nullptr, &t_only);
  CHECK(cal.nll_after <= t_only + 1e-12);
  // Without another group it is exactly the shared temperature's fit.
  const EnsembleCalibration plain = fit_two_group_calibration(members, {false, false, false}, log_lo, log_hi);
  CHECK(plain.temperature == fit_mixture_temperature(members, log_lo, log_hi));
  CHECK(std::isnan(plain.other_weight));
}

namespace {

// The bimodal model (no x-embedding) and a member with the periodic embedding and a
// narrower network, trained briefly on the same rows with the same seed (so the same
// normalisation): an x-embedding mix, merged with weights 0.7 and 0.3.
Checkpoint mixed_checkpoint() {
  const TrainedModel& base = bimodal_model();
  static const Checkpoint periodic = [&] {
    TrainOptions o;
    o.data_path = kData + "bimodal_train.csv";
    o.model_path = (base.dir / "periodic.json").string();
    o.targets = {"y"};
    o.architecture.hidden = 16;
    o.architecture.x_embedding = XEmbedding::periodic;
    o.settings.epochs = kSanitized ? 2 : 15;
    o.settings.samples = 32;
    o.settings.batch_size = 32;
    o.settings.threads = 2;
    o.settings.seed = 1;
    o.verbosity = 0;
    return run_train(o).checkpoint;
  }();
  Checkpoint c = merge_checkpoints({load_checkpoint(base.model_path), periodic}, {"base", "periodic"});
  c.member_weights = {0.7, 0.3};
  return c;
}

}  // namespace

TEST_CASE("x-embedding mix: members of two architectures with unequal weights, exactly sum_n w_n p_n") {
  const Checkpoint c = mixed_checkpoint();
  REQUIRE(c.more_members.size() == 1);
  REQUIRE(c.more_members[0].architecture.has_value());
  CHECK(c.more_members[0].architecture->x_embedding == XEmbedding::periodic);
  CHECK(c.more_members[0].architecture->hidden == 16);
  CHECK(checkpoint_format_version(c) == kMixedEnsembleVersion);
  const std::vector<Member> members = ensemble_members(c);
  REQUIRE(members.size() == 2);
  CHECK(members[0].weight == 0.7);
  CHECK(members[1].model.architecture().x_embedding == XEmbedding::periodic);
  const HeldOut rows = held_out_rows(c, 6);
  const TargetSupport support = standardised_support(c);
  const EnsembleSample es = ensemble_importance_sample(members, rows.x, 256, 5, 0, &rows.streams, support);
  const Matrix<float> y = Matrix<float>::Constant(1, 6, -0.4f);
  const std::vector<double> mixture = ensemble_log_density(members, es, y);
  std::vector<ImportanceSample> alone;
  std::vector<std::vector<double>> separate;
  for (int n = 0; n < 2; ++n) {
    alone.push_back(importance_sample(members[n].model, members[n].params, rows.x, 256, member_seed(5, n), 0,
                                      &rows.streams, support));
    separate.push_back(log_density(members[n].model, members[n].params, alone.back(), y));
  }
  for (int e = 0; e < 6; ++e) {
    CHECK(mixture[e] == doctest::Approx(std::log(0.7 * std::exp(separate[0][e]) + 0.3 * std::exp(separate[1][e])))
                            .epsilon(1e-12));
    CHECK(std::abs(separate[0][e] - separate[1][e]) > 1e-3);  // the members differ
    const double mean = 0.7 * weighted_moments(alone[0], e, 0).mean + 0.3 * weighted_moments(alone[1], e, 0).mean;
    CHECK(weighted_moments(es.combined(), e, 0).mean == doctest::Approx(mean).epsilon(1e-9));
    CHECK(es.combined().weights.col(e).sum() == doctest::Approx(1.0).epsilon(1e-12));
  }
  // The reported masses are the weighted sum of the members' ...
  const double lo = support.lo[0] - 1.0, hi = support.hi[0] + 1.0;
  const std::vector<double> masses = ensemble_reported_masses(members, es, lo, hi, 4001);
  const std::vector<double> m0 = reported_masses(members[0].model, members[0].params, alone[0], lo, hi, 4001);
  const std::vector<double> m1 = reported_masses(members[1].model, members[1].params, alone[1], lo, hi, 4001);
  for (int e = 0; e < 6; ++e) {
    CHECK(masses[e] == doctest::Approx(0.7 * m0[e] + 0.3 * m1[e]).epsilon(1e-12));
    if (!kSanitized) CHECK(masses[e] == doctest::Approx(1.0).epsilon(0.02));  // ... and the mixture is normalised
  }
  // Samples and modes run member by member, each with its own network.
  const Matrix<float> draws = ensemble_resample(members, es, 50, 2, 0.05, 5, 0, &rows.streams);
  CHECK(draws.allFinite());
  CHECK(ensemble_modes(members, es, 10, 0.1).allFinite());
}

TEST_CASE(
    "x-embedding mix: a version 4 checkpoint keeps each member's architecture and weight; older versions refuse them") {
  const Checkpoint c = mixed_checkpoint();
  const nlohmann::ordered_json json = checkpoint_to_json(c);
  CHECK(json["format_version"] == kMixedEnsembleVersion);
  CHECK(json["ensemble_weights"] == nlohmann::ordered_json({0.7, 0.3}));
  CHECK(json["ensemble"][0]["architecture"]["x_embedding"] == "periodic");
  const Checkpoint back = checkpoint_from_json(json, "mix.json");
  CHECK(back.member_weights == c.member_weights);
  REQUIRE(back.more_members[0].architecture.has_value());
  CHECK(*back.more_members[0].architecture == *c.more_members[0].architecture);
  CHECK(member_parameters(back) == member_parameters(c));
  auto refused = [&](nlohmann::ordered_json j, const std::string& what) {
    CAPTURE(what);
    std::string message;
    try {
      checkpoint_from_json(j, "mix.json");
    } catch (const DataError& e) {
      message = e.what();
    }
    CHECK(message.rfind("mix.json: ", 0) == 0);
    CHECK(message.find(what) != std::string::npos);
  };
  nlohmann::ordered_json j = json;
  j["format_version"] = 3;
  refused(j, "'ensemble[0].architecture' needs format_version 4, found 3");
  j = json;
  j["format_version"] = 3;
  j["ensemble"][0].erase("architecture");
  j["ensemble"][0]["parameters"] = j["parameters"];  // member 1's architecture, so the weights are what is refused
  refused(j, "'ensemble_weights' needs format_version 4, found 3");
  j = json;
  j["ensemble_weights"] = {0.7, 0.4};
  refused(j, "'ensemble_weights' must sum to 1");
  j = json;
  j["ensemble_weights"] = {1.2, -0.2};
  refused(j, "'ensemble_weights[1]' must be >= 0");
  j = json;
  j["ensemble_weights"] = {1.0};
  refused(j, "ensemble_weights");
  j = json;
  j["ensemble"][0]["architecture"]["x_dim"] = 3;
  refused(j, "'ensemble[0].architecture' has x_dim 3 and y_dim 1, the checkpoint's has 1 and 1");
  // Equal weights and one architecture: still written as before (version 2).
  Checkpoint plain = c;
  plain.member_weights.clear();
  plain.more_members[0].architecture.reset();
  plain.more_members[0].params = plain.params;
  CHECK(checkpoint_format_version(plain) == 2);
}

TEST_CASE("merge: parts weigh by their member counts, each keeping its own weights and architectures") {
  const Checkpoint mixed = mixed_checkpoint();  // weights 0.7, 0.3
  const Checkpoint single = load_checkpoint(bimodal_model().model_path);
  const Checkpoint merged = merge_checkpoints({single, mixed}, {"single", "mixed"});
  // 1 of 3 members for the single model, 2 of 3 for the mix (0.7 and 0.3 of it).
  REQUIRE(merged.member_weights.size() == 3);
  CHECK(merged.member_weights[0] == doctest::Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(merged.member_weights[1] == doctest::Approx(2.0 / 3.0 * 0.7).epsilon(1e-15));
  CHECK(merged.member_weights[2] == doctest::Approx(2.0 / 3.0 * 0.3).epsilon(1e-15));
  CHECK(!merged.more_members[0].architecture.has_value());  // the single model's architecture
  REQUIRE(merged.more_members[1].architecture.has_value());
  CHECK(merged.more_members[1].architecture->x_embedding == XEmbedding::periodic);
  CHECK_NOTHROW(checkpoint_from_json(checkpoint_to_json(merged), "merged.json"));
  // Parts with equal weights give equal weights (nothing written).
  CHECK(merge_checkpoints({single, single}, {"a", "b"}).member_weights.empty());
}
