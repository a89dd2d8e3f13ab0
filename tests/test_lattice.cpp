// Lattice targets (lattice.h): detection, and a model trained on a quality score in 3..9
// that gives the observed value a higher probability than a linear-Gaussian fit, with a
// smooth density (no spikes at the integers).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include <Eigen/QR>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/lattice.h"

using namespace ebm;
using namespace ebm::testing;

namespace {

Eigen::VectorXd vector_of(std::initializer_list<double> values) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(values.size()));
  Eigen::Index i = 0;
  for (double x : values) v(i++) = x;
  return v;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// -mean log P(cell of y) under an ordinary-least-squares line with Gaussian residuals
// (the baseline the issue names), fitted on the training file, scored on the test file.
double linear_gaussian_cell_nll(const Table& train, const Table& test) {
  const Eigen::Index n = static_cast<Eigen::Index>(train.rows()), p = 3;
  Eigen::MatrixXd design(n, p + 1);
  design.col(0).setOnes();
  design.rightCols(p) = train.values.leftCols(p);
  const Eigen::VectorXd target = train.values.col(p);
  const Eigen::VectorXd beta = design.colPivHouseholderQr().solve(target);
  const double sigma = std::sqrt((target - design * beta).squaredNorm() / static_cast<double>(n - p - 1));
  double nll = 0;
  for (std::size_t r = 0; r < test.rows(); ++r) {
    double mean = beta(0);
    for (Eigen::Index j = 0; j < p; ++j) mean += beta(j + 1) * test.values(r, j);
    const double y = test.values(r, p);
    nll -= std::log(normal_cdf((y + 0.5 - mean) / sigma) - normal_cdf((y - 0.5 - mean) / sigma));
  }
  return nll / static_cast<double>(test.rows());
}

}  // namespace

TEST_CASE("detect_lattice finds integer, decimal and offset lattices and leaves continuous data alone") {
  CHECK(detect_lattice(vector_of({3, 5, 4, 7, 5, 6})).step == 1.0);
  CHECK(detect_lattice(vector_of({3, 5, 7, 9, 5})).step == 2.0);
  CHECK(detect_lattice(vector_of({0.5, 1.0, 2.5, 1.5})).step == doctest::Approx(0.5));
  const Lattice offset = detect_lattice(vector_of({0.1, 0.35, 0.6, 1.1}));
  CHECK(offset.step == doctest::Approx(0.25));
  CHECK(offset.origin == doctest::Approx(0.1));
  CHECK(offset.snap(0.5) == doctest::Approx(0.6));
  // Continuous: too many decimals, or a step far below the spread (prices in cents).
  CHECK_FALSE(detect_lattice(vector_of({9.855536508, 1.234567891, 3.3333333331})).discrete());
  CHECK_FALSE(detect_lattice(vector_of({100.01, 250.37, 99.99, 410.5, 12.02})).discrete());
  // Degenerate inputs.
  CHECK_FALSE(detect_lattice(vector_of({4, 4, 4})).discrete());
  CHECK_FALSE(detect_lattice(vector_of({1, 2})).discrete());
}

TEST_CASE("a lattice target: better probability of the observed value than a linear Gaussian, smooth density") {
  const auto dir = std::filesystem::temp_directory_path() / ("ebm-test-lattice-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  TrainOptions o;
  o.data_path = kData + "quality_train.csv";
  o.model_path = (dir / "quality.json").string();
  o.targets = {"quality"};
  o.architecture.hidden = 32;
  o.settings.epochs = kSanitized ? 2 : 25;
  o.settings.samples = 32;
  o.settings.seed = 3;
  o.settings.threads = 2;
  std::ostringstream log;
  o.log = &log;
  run_train(o);
  CHECK(log.str().find("target 'quality' takes values on a lattice of step 1 (7 values from 3 to 9)") !=
        std::string::npos);
  PredictOptions p;
  p.model_path = o.model_path;
  p.data_path = kData + "quality_test.csv";
  p.output_path = (dir / "predictions.csv").string();
  p.metrics_path = (dir / "metrics.json").string();
  const PredictSummary s = run_predict(p);
  REQUIRE(s.metrics.contains("nll_cell"));
  const double baseline = linear_gaussian_cell_nll(read_table(o.data_path, {}), read_table(p.data_path, {}));
  MESSAGE("cell NLL " << s.metrics["nll_cell"].get<double>() << ", linear Gaussian " << baseline);
  if (!kSanitized) CHECK(s.metrics["nll_cell"].get<double>() < baseline);

  // Smooth: between neighbouring integers the density does not collapse (a spiky model
  // puts almost nothing at k + 1/2).
  const Checkpoint c = load_checkpoint(o.model_path);
  const EnergyModel model(c.architecture);
  Matrix<float> x(3, 1);
  x << 0.0f, 0.0f, 0.0f;  // the standardised mean of the features
  const ImportanceSample is = importance_sample(model, c.params, x, 1024, 1, 0, nullptr, standardised_support(c));
  for (double k : {5.0, 6.0}) {
    const auto log_p = [&](double y) {
      Matrix<float> ys(1, 1);
      ys(0, 0) = static_cast<float>(c.y_scaler.to_standard(0, y));
      return log_density(model, c.params, is, ys)[0];
    };
    if (!kSanitized) CHECK(log_p(k) - log_p(k + 0.5) < std::log(3.0));
  }

  // --on-lattice: the intervals, quantiles and draws are lattice points, each the nearest
  // point to the continuous value (the quantile of the cell probabilities).
  const auto read_rows = [](const std::string& path) { return read_table(path, {}); };
  p.metrics_path.clear();
  p.intervals = {0.5, 0.9};
  p.quantiles = {0.1, 0.5, 0.9};
  run_predict(p);
  const Table continuous = read_rows(p.output_path);
  p.on_lattice = true;
  run_predict(p);
  const Table snapped = read_rows(p.output_path);
  REQUIRE(snapped.columns == continuous.columns);
  REQUIRE(snapped.rows() == continuous.rows());
  int on_points = 0, checked = 0;
  for (std::size_t j = 0; j < snapped.columns.size(); ++j) {
    const std::string& name = snapped.columns[j];
    if (name.find("_lo") == std::string::npos && name.find("_hi") == std::string::npos &&
        name.find("_q") == std::string::npos) {
      CHECK(snapped.values.col(static_cast<Eigen::Index>(j)) == continuous.values.col(static_cast<Eigen::Index>(j)));
      continue;
    }
    for (std::size_t r = 0; r < snapped.rows(); ++r) {
      const double v = snapped.values(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
      const double before = continuous.values(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
      ++checked;
      on_points += v == std::round(v) && v >= 3 && v <= 9 && std::abs(v - before) <= 0.5 ? 1 : 0;
    }
  }
  CHECK(checked == 7 * static_cast<int>(snapped.rows()));  // lo, hi twice and three quantiles
  CHECK(on_points == checked);
  SampleOptions so;
  so.model_path = o.model_path;
  so.data_path = p.data_path;
  so.output_path = (dir / "draws.csv").string();
  so.draws = 20;
  so.on_lattice = true;
  run_sample(so);
  const Table draws = read_rows(so.output_path);
  const Eigen::VectorXd y = draws.values.col(2);
  CHECK(draws.columns[2] == "quality");
  CHECK((y.array() == y.array().round()).all());
  CHECK(y.minCoeff() >= 0);  // within the model's support [0, 12]: 3..9 widened by half the range
  CHECK(y.maxCoeff() <= 12);
  std::filesystem::remove_all(dir);
}

TEST_CASE("--on-lattice refuses a model whose targets are continuous") {
  const std::string model = bimodal_model().model_path;
  PredictOptions p;
  p.model_path = model;
  p.data_path = kData + "bimodal_test.csv";
  p.output_path = "-";
  p.on_lattice = true;
  CHECK_THROWS_WITH_AS(run_predict(p),
                       (model + ": --on-lattice: no target of this model takes values on a lattice (ebm-train reports "
                                "one when it finds integer or evenly rounded targets)")
                           .c_str(),
                       DataError);
  SampleOptions so;
  so.model_path = model;
  so.data_path = p.data_path;
  so.on_lattice = true;
  CHECK_THROWS_AS(run_sample(so), DataError);
}
