// Missing values and categorical features (lib/ebm/feature_encoding.h): the encoding of a
// row, its checkpoint form, and end to end that the model uses what "missing" and the
// levels say about y.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/feature_encoding.h"
#include "ebm/json_reader.h"
#include "ebm/rng.h"

using namespace ebm;
namespace fs = std::filesystem;
using ebm::testing::kSanitized;

namespace {

FeatureEncodings numeric_with_indicator_and_categorical() {
  FeatureEncoding x;
  x.missing_in_training = true;
  FeatureEncoding g;
  g.kind = FeatureKind::categorical;
  g.levels = {"a", "b", "c"};
  FeatureEncoding z;  // numeric, complete in training
  return {x, g, z};
}

Standardizer scaler(std::vector<double> mean, std::vector<double> scale) {
  Standardizer s;
  s.mean = std::move(mean);
  s.scale = std::move(scale);
  return s;
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("encode_row: standardised value and indicator, one-hot, zeros for no level") {
  const FeatureEncodings e = numeric_with_indicator_and_categorical();
  const Standardizer s = scaler({10, 0, 1}, {2, 1, 4});
  CHECK(encoded_width(e, 3) == 6);
  std::vector<float> out(6, -9.0f);
  EncodingCounts counts;
  const double observed[] = {14, 2, 5};  // x = 14, level "c", z = 5
  encode_row(e, s, observed, 3, out.data(), &counts);
  CHECK(out == std::vector<float>{2, 0, 0, 0, 1, 1});
  const double missing[] = {NAN, kMissingCode, NAN};
  encode_row(e, s, missing, 3, out.data(), &counts);
  CHECK(out == std::vector<float>{0, 1, 0, 0, 0, 0});  // imputed mean, indicator 1, no level, z imputed
  const double unknown[] = {10, kUnknownCode, 1};
  encode_row(e, s, unknown, 3, out.data(), &counts);
  CHECK(out == std::vector<float>{0, 0, 0, 0, 0, 0});
  // Only z had no indicator: its missing value is the one counted.
  CHECK(counts.imputed == std::vector<long>{0, 0, 1});
  counts.add_unknown(1, 3, "e");
  counts.add_unknown(1, 3, "f");
  CHECK(counts.warnings("ebm-predict", {"x", "g", "z"}) ==
        "ebm-predict: warning: 1 missing value(s) in features that had none in training, imputed with the training "
        "mean (z: 1)\n"
        "ebm-predict: warning: 2 value(s) of categorical features not seen in training, treated as unknown (g: 2 "
        "(e.g. 'e'))\n");
}

TEST_CASE("encode_row: the plain encoding is today's standardisation") {
  const Standardizer s = scaler({1, -2}, {3, 0.5});
  const double raw[] = {2.5, -1.25};
  std::vector<float> out(2);
  encode_row({}, s, raw, 2, out.data(), nullptr);
  CHECK(out[0] == static_cast<float>(s.to_standard(0, 2.5)));
  CHECK(out[1] == static_cast<float>(s.to_standard(1, -1.25)));
}

TEST_CASE("categorical levels: keys, order, codes, limit") {
  CHECK(level_key("1.0") == "1");
  CHECK(level_key("-0") == "0");
  CHECK(level_key("2.50") == "2.5");
  CHECK(level_key("north") == "north");
  const std::vector<std::string> levels = categorical_levels({"b", "", "a", "1.0", "b", "1"}, "c");
  CHECK(levels == std::vector<std::string>{"1", "a", "b"});
  FeatureEncoding e;
  e.kind = FeatureKind::categorical;
  e.levels = levels;
  CHECK(categorical_code(e, "a", false) == 1.0);
  CHECK(categorical_code(e, "1.00", false) == 0.0);
  CHECK(categorical_code(e, "zzz", false) == kUnknownCode);
  CHECK(categorical_code(e, "", true) == kMissingCode);
  std::vector<std::string> many;
  for (int i = 0; i <= kMaxCategoricalLevels; ++i) many.push_back("v" + std::to_string(i));
  CHECK(error_message([&] { categorical_levels(many, "t.csv: column 'id'"); }) ==
        "t.csv: column 'id' has 1001 distinct values; a categorical feature may have at most 1000");
}

TEST_CASE("fit_feature_scaler: observed values only; the plain case is Standardizer::fit bit for bit") {
  Rng rng(3, 0);
  Eigen::MatrixXd raw(50, 2);
  for (Eigen::Index r = 0; r < raw.rows(); ++r) {
    raw(r, 0) = rng.normal() * 7 + 1;
    raw(r, 1) = rng.uniform();
  }
  const Standardizer plain = fit_feature_scaler(raw, {});
  const Standardizer reference = Standardizer::fit(raw);
  CHECK(plain.mean == reference.mean);
  CHECK(plain.scale == reference.scale);
  // With every other value of column 0 missing, its statistics are those of the rest.
  Eigen::MatrixXd holes = raw;
  Eigen::MatrixXd kept(25, 1);
  for (Eigen::Index r = 0; r < raw.rows(); ++r) {
    if (r % 2 == 1) holes(r, 0) = NAN;
    else kept(r / 2, 0) = raw(r, 0);
  }
  FeatureEncodings e(2);
  e[0].missing_in_training = true;
  e[1].kind = FeatureKind::categorical;
  e[1].levels = {"a"};
  const Standardizer fitted = fit_feature_scaler(holes, e);
  CHECK(fitted.mean[0] == Standardizer::fit(kept).mean[0]);
  CHECK(fitted.scale[0] == Standardizer::fit(kept).scale[0]);
  CHECK(fitted.mean[1] == 0.0);
  CHECK(fitted.scale[1] == 1.0);
}

TEST_CASE("checkpoint: feature_encoding round trip and checks") {
  Checkpoint c;
  c.features = {"x", "g", "z"};
  c.targets = {"y"};
  c.feature_encoding = numeric_with_indicator_and_categorical();
  c.x_scaler = scaler({10, 0, 1}, {2, 1, 4});
  c.y_scaler = scaler({0}, {1});
  c.y_lattice.assign(1, Lattice{});
  c.architecture.x_dim = 6;
  c.architecture.hidden = 4;
  c.architecture.components = 1;
  set_support_from_range(c, {-1}, {1});
  const EnergyModel model(c.architecture);
  c.params.assign(model.parameter_count(), 0.25f);
  const nlohmann::ordered_json j = checkpoint_to_json(c);
  REQUIRE(j.contains("feature_encoding"));
  CHECK(j["feature_encoding"][1]["levels"] == nlohmann::ordered_json({"a", "b", "c"}));
  CHECK(j["feature_encoding"][0]["missing_in_training"] == true);
  CHECK(j["normalization"]["x_mean"].size() == 3);
  const Checkpoint back = checkpoint_from_json(j, "m.json");
  CHECK(back.feature_encoding == c.feature_encoding);
  CHECK(back.architecture.x_dim == 6);
  CHECK(ensemble_incompatibility(c, back).empty());

  SUBCASE("the width must match x_dim") {
    nlohmann::ordered_json bad = j;
    bad["feature_encoding"][0]["missing_in_training"] = false;
    CHECK(error_message([&] { checkpoint_from_json(bad, "m.json"); }) ==
          "m.json: 'feature_encoding' gives 5 network inputs but architecture.x_dim is 6");
  }
  SUBCASE("levels sorted and distinct") {
    nlohmann::ordered_json bad = j;
    bad["feature_encoding"][1]["levels"] = {"b", "a", "c"};
    CHECK(error_message([&] { checkpoint_from_json(bad, "m.json"); }) ==
          "m.json: 'feature_encoding[1].levels' must be sorted and distinct");
  }
  SUBCASE("a plain model writes no feature_encoding") {
    Checkpoint plain = back;
    plain.feature_encoding.clear();
    plain.features = {"a", "b", "c", "d", "e", "f"};
    plain.x_scaler = scaler(std::vector<double>(6, 0.0), std::vector<double>(6, 1.0));
    CHECK(!checkpoint_to_json(plain).contains("feature_encoding"));
    CHECK(ensemble_incompatibility(plain, back) != "");
  }
}

namespace {

// y = x + noise where x is observed, y = 3 + noise where it is missing (a quarter of the
// rows, the first among them); group b adds 2. Rows 0..n-1.
std::string informative_missing_csv(int rows, std::uint64_t stream) {
  Rng rng(11, stream);
  std::ostringstream out;
  out << "x,group,y\n";
  for (int i = 0; i < rows; ++i) {
    const double x = 2 * rng.uniform() - 1;
    const bool missing = i == 0 || rng.uniform() < 0.25;
    const bool b = rng.uniform() < 0.5;
    const double y = (missing ? 3.0 : x) + (b ? 2.0 : 0.0) + 0.1 * rng.normal();
    out << (missing ? std::string("NA") : format_number(x)) << "," << (b ? "b" : "a") << "," << format_number(y)
        << "\n";
  }
  return out.str();
}

}  // namespace

TEST_CASE("end to end: a missing value and a level say something about y") {
  const fs::path dir = fs::temp_directory_path() / ("ebm-test-encoding-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream((dir / "train.csv").string()) << informative_missing_csv(600, 0);
  std::ofstream((dir / "test.csv").string()) << "x,group,y\nNA,a,\n0.5,b,\n,b,\n0.5,e,\n";
  TrainOptions o;
  o.data_path = (dir / "train.csv").string();
  o.model_path = (dir / "m.json").string();
  o.targets = {"y"};
  o.categorical = {"group"};
  o.architecture.hidden = 16;
  o.settings.epochs = kSanitized ? 2 : 40;
  o.settings.samples = 32;
  o.settings.learning_rate = 3e-3;
  o.settings.threads = 2;
  o.verbosity = 0;
  const TrainSummary t = run_train(o);
  CHECK(t.checkpoint.features == std::vector<std::string>{"x", "group"});
  REQUIRE(t.checkpoint.feature_encoding.size() == 2);
  CHECK(t.checkpoint.feature_encoding[0].missing_in_training);
  CHECK(t.checkpoint.feature_encoding[1].levels == std::vector<std::string>{"a", "b"});
  CHECK(t.checkpoint.architecture.x_dim == 4);

  PredictOptions p;
  p.model_path = o.model_path;
  p.data_path = (dir / "test.csv").string();
  p.output_path = (dir / "pred.csv").string();
  p.samples = 256;
  p.logpdf = true;
  std::ostringstream log;
  p.warnings = &log;
  const PredictSummary s = run_predict(p);
  CHECK(s.rows == 4);
  CHECK(s.rows_without_target == 4);
  CHECK(log.str() ==
        "ebm-predict: warning: 1 value(s) of categorical features not seen in training, treated as unknown (group: 1 "
        "(e.g. 'e'))\n"
        "ebm-predict: warning: 4 row(s) without a target value: predicted, but without log_density and left out of "
        "the metrics\n");
  const Table pred = read_table(p.output_path, {});
  REQUIRE(pred.rows() == 4);
  CHECK(pred.columns == std::vector<std::string>{"y_mean", "y_std", "log_density"});
  for (std::size_t r = 0; r < 4; ++r) CHECK(std::isnan(pred.values(r, 2)));  // empty: no target
  if (!kSanitized) {
    CHECK(std::abs(pred.values(0, 0) - 3.0) < 0.4);  // missing x, group a: 3 (the mean imputation alone gives ~0)
    CHECK(std::abs(pred.values(1, 0) - 2.5) < 0.4);  // x = 0.5, group b
    CHECK(std::abs(pred.values(2, 0) - 5.0) < 0.4);  // missing x, group b
  }
  fs::remove_all(dir);
}
