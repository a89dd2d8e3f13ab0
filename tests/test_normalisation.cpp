// The densities ebm reports are normalised: each held-out row's reported p(y|x)
// integrates to 1 over y, also when the proposal misses part of the model's mass, which
// is how self-normalised importance sampling fails silently (an estimate of Z(x) from
// draws that never visit some of the mass comes out too small).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <vector>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/csv.h"
#include "ebm/inference.h"
#include "ebm/rng.h"
#include "model_fixtures.h"

using namespace ebm;
using namespace ebm::testing;

namespace {

// Grid masses of the reported densities of `rows` held-out rows over the support widened
// by half of its width on each side (standardised units).
std::vector<double> masses(const Checkpoint& c, const TargetSupport& support, int rows) {
  const EnergyModel model(c.architecture);
  const HeldOut h = held_out_rows(c, rows);
  const ImportanceSample is = importance_sample(model, c.params, h.x, 1024, 7, 0, &h.streams, support);
  const TargetSupport full = standardised_support(c);
  const double pad = 0.5 * (full.hi[0] - full.lo[0]);
  return reported_masses(model, c.params, is, full.lo[0] - pad, full.hi[0] + pad, 20001);
}

}  // namespace

TEST_CASE("held-out rows' reported densities integrate to 1") {
  if (kSanitized) return;  // needs the fully trained model
  const Checkpoint c = load_checkpoint(bimodal_model().model_path);
  REQUIRE(!standardised_support(c).empty());
  for (double mass : masses(c, standardised_support(c), 40)) CHECK(mass == doctest::Approx(1.0).epsilon(0.005));
}

TEST_CASE("quadrature stays normalised where the proposal misses the mass; SNIS does not") {
  if (kSanitized) return;
  Checkpoint c = load_checkpoint(bimodal_model().model_path);
  // A proposal 20 times too narrow (log-variances shifted by 2 log(1/20)): its draws cover
  // only the middle of each mode.
  const EnergyModel model(c.architecture);
  model.shift_proposal_log_variances(c.params.data(), static_cast<float>(2.0 * std::log(1.0 / 20)));
  for (double mass : masses(c, standardised_support(c), 40)) CHECK(mass == doctest::Approx(1.0).epsilon(0.01));
  // The same model normalised by SNIS alone (what a version 1 checkpoint gets): Z(x) is
  // under-estimated and the reported density holds far more than 1.
  double largest = 0;
  for (double mass : masses(c, TargetSupport{}, 40)) largest = std::max(largest, mass);
  CHECK(largest > 1.5);
}

TEST_CASE("a version 1 checkpoint (no support) still loads and is normalised by SNIS") {
  auto json = checkpoint_to_json(load_checkpoint(bimodal_model().model_path));
  json["format_version"] = 1;
  json.erase("support");
  const Checkpoint c = checkpoint_from_json(json, "v1.json");
  CHECK(standardised_support(c).empty());
  const EnergyModel model(c.architecture);
  const HeldOut h = held_out_rows(c, 3);
  const ImportanceSample is = importance_sample(model, c.params, h.x, 64, 7, 0, &h.streams, standardised_support(c));
  CHECK(is.samples == 64);  // proposal draws only: no quadrature grid
  CHECK_FALSE(is.quadrature());

  // Written back, it stays a version 1 file (no support to write) and loads to the same model.
  const auto written = checkpoint_to_json(c);
  CHECK(written["format_version"] == 1);
  CHECK_FALSE(written.contains("support"));
  const Checkpoint again = checkpoint_from_json(written, "again.json");
  CHECK(again.params == c.params);
  CHECK(again.y_support_lo.empty());
}

namespace {

// Trapezoid error of exp f on [a, b] (one panel) against a fine composite rule.
double panel_error(const std::function<double(double)>& f, double a, double b) {
  const int fine = 20000;
  double exact = 0;
  for (int i = 0; i <= fine; ++i) {
    const double w = (i == 0 || i == fine) ? 0.5 : 1.0;
    exact += w * std::exp(f(a + (b - a) * i / fine));
  }
  exact *= (b - a) / fine;
  return 0.5 * (b - a) * (std::exp(f(a)) + std::exp(f(b))) - exact;
}

struct Panels {
  std::vector<double> u, f;
};

Panels uniform_points(const std::function<double(double)>& f, double lo, double hi, int n) {
  Panels p;
  for (int i = 0; i <= n; ++i) {
    p.u.push_back(lo + (hi - lo) * i / n);
    p.f.push_back(f(p.u.back()));
  }
  return p;
}

}  // namespace

TEST_CASE("interval_errors estimates the trapezoid error of each panel, a peak between two points included") {
  SUBCASE("Gaussian: the estimate does not miss a panel's error and overstates it by a bounded factor") {
    // It bounds |g''| by |f''| + f'^2 (no cancellation near the inflection points) and g by
    // its larger end value, so it errs on the side of refining.
    const double sigma = 0.1;
    const auto f = [&](double y) { return -0.5 * y * y / (sigma * sigma); };
    const Panels p = uniform_points(f, -1, 1, 80);  // h = 0.025 = sigma / 4
    const std::vector<double> est = interval_errors(p.u, p.f);
    const double mass = std::sqrt(2 * M_PI) * sigma;
    for (std::size_t j = 0; j < est.size(); ++j) {
      const double truth = std::abs(panel_error(f, p.u[j], p.u[j + 1])) / mass;
      if (truth > 1e-4) {
        CHECK(est[j] > truth / 3);
        CHECK(est[j] < truth * 5 + 1e-3);
      }
    }
  }
  SUBCASE("a tent whose tip falls between two points: that panel and its steep neighbours stand out") {
    // f = 30 - 400 |y - 0.0031|: the tip lies inside [0, 0.01], whose two end values are
    // both well below it; its one-panel trapezoid misses a large share of the mass (the
    // neighbours, 4 nats steep per panel, err as well).
    const auto f = [](double y) { return 30 - 400 * std::abs(y - 0.0031); };
    const Panels p = uniform_points(f, -0.1, 0.1, 20);
    const std::vector<double> est = interval_errors(p.u, p.f);
    const std::size_t peak = 10;  // [0, 0.01]
    REQUIRE(p.u[peak] == doctest::Approx(0.0));
    const double mass = 2.0 / 400 * std::exp(30.0);
    CHECK(std::abs(panel_error(f, p.u[peak], p.u[peak + 1])) / mass > 0.05);
    CHECK(est[peak] > 0.05);
    for (std::size_t j = 0; j < est.size(); ++j) {
      if (j + 1 < peak || j > peak + 1) CHECK(est[j] < 0.1 * est[peak]);
    }
  }
  SUBCASE("a gentle slope needs nothing") {
    const Panels p = uniform_points([](double y) { return 0.3 * y; }, -1, 1, 64);
    for (double e : interval_errors(p.u, p.f)) CHECK(e < 1e-4);
  }
}

TEST_CASE("a relative energy (f = log q + g) trained on real-looking data: held-out densities integrate to 1") {
  const std::filesystem::path dir = bimodal_model().dir / "relative";
  std::filesystem::create_directories(dir);
  TrainOptions o;
  o.data_path = kData + "bimodal_train.csv";
  o.model_path = (dir / "model.json").string();
  o.targets = {"y"};
  o.architecture.hidden = 16;
  o.architecture.activation = Activation::silu;
  o.architecture.energy_form = EnergyForm::relative;
  o.settings.objective = Objective::sm;
  o.settings.epochs = kSanitized ? 1 : 8;
  o.settings.samples = 16;
  o.settings.threads = 2;
  o.settings.seed = 3;
  o.verbosity = 0;
  run_train(o);
  const Checkpoint c = load_checkpoint(o.model_path);
  CHECK(c.architecture.energy_form == EnergyForm::relative);
  CHECK(checkpoint_format_version(c) == kRelativeEnergyVersion);
  // Not calibrated: a temperature or a wider proposal would move the base log q.
  CHECK(c.results["temperature"].get<double>() == 1.0);
  CHECK(c.results["proposal_scale"].get<double>() == 1.0);
  for (double mass : masses(c, standardised_support(c), 20)) CHECK(mass == doctest::Approx(1.0).epsilon(0.005));
}

// The quadrature grid is the same for every row, so importance_sample and reported_masses
// compute its share of the energy network (Wy y_net(y)) once for all rows. Each row's
// energies must still be the energies of the network evaluated on that row alone.
TEST_CASE("the grid's shared y-side gives every row the energies of the whole network") {
  for (const EnergyForm form : {EnergyForm::absolute, EnergyForm::relative}) {
    for (const int hidden : {32, 8}) {  // the matrix path, and the lane path (shares nothing)
      CAPTURE(hidden);
      Architecture a = small_architecture(Activation::relu, 3, 1);
      a.hidden = hidden;
      a.energy_form = form;
      const EnergyModel model(a);
      Rng rng(11);
      const std::vector<double> p64 = random_params(model, rng);
      const ParamVector params(p64.begin(), p64.end());
      const Matrix<float> x = random_matrix(3, 5, rng).cast<float>();
      const TargetSupport support{{-2.5}, {3.0}};
      const ImportanceSample is = importance_sample(model, params, x, 64, 3, 0, nullptr, support);
      for (int e = 0; e < is.rows; ++e) {
        const Matrix<float> hx = is.hx.col(e);
        const Matrix<float> y = is.y.middleCols(static_cast<Eigen::Index>(e) * is.samples, is.samples);
        const RowVector<float> whole = model.energy(params.data(), hx, y, is.samples);
        if (hidden > EnergyModel::kLaneMaxWidth) {
          // energy() is the two steps composed, bit for bit.
          const RowVector<float> composed = model.energy_from_joint_y_part(
              params.data(), hx, y, model.joint_y_part(params.data(), y), is.samples);
          CHECK((composed.array() == whole.array()).all());
        }
        for (int m = 0; m < is.samples; ++m) {
          REQUIRE(is.energy(m, e) == doctest::Approx(whole(m)).epsilon(1e-5));
        }
      }
      // reported_masses (shared grid) against the trapezoid rule on energies of each row alone.
      const int points = 301;
      const std::vector<double> masses = reported_masses(model, params, is, -4.0, 5.0, points);
      REQUIRE(masses.size() == static_cast<std::size_t>(is.rows));
      Matrix<float> grid(1, points);
      for (int j = 0; j < points; ++j) grid(0, j) = static_cast<float>(-4.0 + 9.0 * j / (points - 1));
      for (int e = 0; e < is.rows; ++e) {
        const RowVector<float> f = model.energy(params.data(), Matrix<float>(is.hx.col(e)), grid, points);
        double mass = 0;
        for (int j = 0; j < points; ++j) {
          const double weight = (j == 0 || j + 1 == points ? 0.5 : 1.0) * 9.0 / (points - 1);
          mass += weight * std::exp(reported_log_density(is, e, f(j), grid.col(j).data()));
        }
        CHECK(masses[static_cast<std::size_t>(e)] == doctest::Approx(mass).epsilon(1e-5));
        CHECK(mass > 0.5);  // a real density, so that the comparison means something
      }
    }
  }
}
