// Tabular data as it comes: several interval levels at once, warnings and a per-row flag
// for predictions outside the training range, sample weights and warm starts.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/errors.h"

using namespace ebm;
using ebm::testing::read_file;
namespace fs = std::filesystem;

namespace {

// A tiny model on DIR/train.csv (feature x in [0, 2), target y), trained once.
struct Fixture {
  fs::path dir;
  std::string model;
  Fixture() {
    dir = fs::temp_directory_path() / ("ebm-test-tabular-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream data(dir / "train.csv");
    data << "x,y\n";
    for (int i = 0; i < 200; ++i) data << i * 0.01 << "," << std::sin(3.0 * i * 0.01) + 0.1 * (i % 7) << "\n";
    data.close();
    std::ofstream test(dir / "test.csv");
    test << "x,y\n";
    for (int i = 0; i < 60; ++i) test << i * 0.033 << "," << std::sin(0.1 * i) + 0.05 * (i % 5) << "\n";
    test.close();
    TrainOptions o = training(dir / "model.json");
    model = o.model_path;
    run_train(o);
  }
  TrainOptions training(const fs::path& model_path) const {
    TrainOptions o;
    o.data_path = (dir / "train.csv").string();
    o.model_path = model_path.string();
    o.targets = {"y"};
    o.architecture.hidden = 8;
    o.architecture.components = 2;
    o.settings.epochs = 2;
    o.settings.samples = 8;
    o.verbosity = 0;
    return o;
  }
  PredictOptions prediction(const std::string& output) const {
    PredictOptions p;
    p.model_path = model;
    p.data_path = (dir / "test.csv").string();
    p.output_path = (dir / output).string();
    p.samples = 64;
    p.precision = 0;  // round-trip: the columns compare exactly
    return p;
  }
  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

Table read_csv(const fs::path& path) { return read_table(path.string(), {}); }

double cell(const Table& t, std::size_t row, const std::string& column) {
  return t.values(static_cast<Eigen::Index>(row), static_cast<Eigen::Index>(t.column_index(column)));
}

}  // namespace

TEST_CASE("--interval with several levels: one pair of columns per level, and their coverage in the metrics") {
  const Fixture& f = fixture();
  PredictOptions both = f.prediction("both.csv");
  both.intervals = {0.1, 0.9};
  both.metrics_path = (f.dir / "both.json").string();
  const PredictSummary s_both = run_predict(both);
  PredictOptions one = f.prediction("one.csv");
  one.intervals = {0.9};
  one.metrics_path = (f.dir / "one.json").string();
  const PredictSummary s_one = run_predict(one);

  const Table b = read_csv(f.dir / "both.csv"), o = read_csv(f.dir / "one.csv");
  CHECK(b.columns == std::vector<std::string>{"y_mean", "y_std", "y_lo0.1", "y_hi0.1", "y_lo0.9", "y_hi0.9"});
  CHECK(o.columns == std::vector<std::string>{"y_mean", "y_std", "y_lo", "y_hi"});  // one level: today's names
  const Table test = read_csv(f.dir / "test.csv");
  REQUIRE(b.rows() == test.rows());
  double inside10 = 0, inside90 = 0;
  for (std::size_t r = 0; r < b.rows(); ++r) {
    CHECK(cell(b, r, "y_lo0.9") == cell(o, r, "y_lo"));  // the same draws, the same quantiles
    CHECK(cell(b, r, "y_hi0.9") == cell(o, r, "y_hi"));
    CHECK(cell(b, r, "y_lo0.9") <= cell(b, r, "y_lo0.1"));
    CHECK(cell(b, r, "y_hi0.1") <= cell(b, r, "y_hi0.9"));
    const double y = cell(test, r, "y");
    inside10 += (y >= cell(b, r, "y_lo0.1") && y <= cell(b, r, "y_hi0.1")) ? 1 : 0;
    inside90 += (y >= cell(b, r, "y_lo0.9") && y <= cell(b, r, "y_hi0.9")) ? 1 : 0;
  }
  const double n = static_cast<double>(b.rows());
  const auto& m = s_both.metrics;
  // "coverage" and "interval" are those of the first level; each level's coverage is the
  // share of rows inside its written columns.
  CHECK(m["interval"].get<double>() == 0.1);
  CHECK(m["coverage"].get<double>() == inside10 / n);
  CHECK(m["coverage_intervals"]["0.1"].get<double>() == inside10 / n);
  CHECK(m["coverage_intervals"]["0.9"].get<double>() == inside90 / n);
  CHECK(m["targets"]["y"]["coverage_intervals"]["0.9"].get<double>() == inside90 / n);
  CHECK(s_one.metrics["coverage"].get<double>() == inside90 / n);
  CHECK_FALSE(s_one.metrics.contains("coverage_intervals"));  // one level: today's metrics
  CHECK(inside10 < inside90);  // the test must be able to tell the levels apart
}

TEST_CASE("--interval: a level outside (0, 1) or listed twice is a usage error naming the level") {
  const Fixture& f = fixture();
  PredictOptions p = f.prediction("bad.csv");
  p.intervals = {0.5, 1.0};
  CHECK_THROWS_WITH_AS(run_predict(p), "--interval: each level must be in (0, 1), found 1", UsageError);
  p.intervals = {0.9, 0.9};
  CHECK_THROWS_WITH_AS(run_predict(p), "--interval: the level 0.9 is listed twice", UsageError);
  CHECK_FALSE(fs::exists(f.dir / "bad.csv"));
}

// ------------------------------------------------------------------ extrapolation

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace

TEST_CASE("extrapolation: the checkpoint keeps the features' training range; rows outside it are counted and flagged") {
  const Fixture& f = fixture();
  const Checkpoint c = load_checkpoint(f.model);
  REQUIRE(c.x_lo.size() == 1);
  // The training rows are x = 0, 0.01, ..., 1.99 less the validation rows (64 of 200).
  CHECK(c.x_lo[0] >= 0.0);
  CHECK(c.x_hi[0] <= 1.99);
  CHECK(c.x_hi[0] > 1.9);
  write_text(f.dir / "far.csv", "x,y\n0.5,1\n1000,1\n-3,0\n1.2,0\n");
  PredictOptions p = f.prediction("far_pred.csv");
  p.data_path = (f.dir / "far.csv").string();
  p.flag_extrapolation = true;
  std::ostringstream warnings;
  p.warnings = &warnings;
  const PredictSummary s = run_predict(p);
  CHECK(s.extrapolation.rows == 4);
  CHECK(s.extrapolation.outside == 2);
  const Table out = read_csv(f.dir / "far_pred.csv");
  CHECK(out.columns.back() == "outside_training");
  CHECK(cell(out, 0, "outside_training") == 0);
  CHECK(cell(out, 1, "outside_training") == 1);
  CHECK(cell(out, 2, "outside_training") == 1);
  CHECK(cell(out, 3, "outside_training") == 0);
  const std::string w = warnings.str();
  CHECK(w.find("ebm-predict: warning: of 4 rows, 2 have features outside the training range") == 0);
  CHECK(std::count(w.begin(), w.end(), '\n') == 1);  // one line
  CHECK(w.find("--flag-extrapolation marks them") == std::string::npos);  // the column is there already

  // ebm-sample: the same count, and the column on every draw's row.
  SampleOptions so;
  so.model_path = f.model;
  so.data_path = p.data_path;
  so.output_path = (f.dir / "far_sample.csv").string();
  so.draws = 3;
  so.proposal_samples = 64;
  so.flag_extrapolation = true;
  std::ostringstream sample_warnings;
  so.warnings = &sample_warnings;
  run_sample(so);
  const Table draws = read_csv(f.dir / "far_sample.csv");
  CHECK(draws.columns == std::vector<std::string>{"row", "sample", "y", "outside_training"});
  REQUIRE(draws.rows() == 12);
  for (std::size_t r = 0; r < 12; ++r) {
    const double row = cell(draws, r, "row");
    CHECK(cell(draws, r, "outside_training") == ((row == 1 || row == 2) ? 1 : 0));
  }
  CHECK(sample_warnings.str().find("ebm-sample: warning: of 4 rows, 2 have features outside the training range") == 0);

  // Rows inside the range and a reasonable ESS: no warning.
  PredictOptions inside = f.prediction("inside.csv");
  write_text(f.dir / "inside_x.csv", "x\n0.5\n1.0\n");
  inside.data_path = (f.dir / "inside_x.csv").string();
  std::ostringstream quiet;
  inside.warnings = &quiet;
  const PredictSummary si = run_predict(inside);
  CHECK(si.extrapolation.outside == 0);
  if (si.extrapolation.low_ess == 0) CHECK(quiet.str().empty());
}

TEST_CASE("extrapolation: a checkpoint without x_range (written before it existed) loads and flags nothing") {
  const Fixture& f = fixture();
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_file(f.model));
  REQUIRE(j.contains("x_range"));
  j.erase("x_range");
  write_text(f.dir / "old.json", j.dump(1));
  const Checkpoint old = load_checkpoint((f.dir / "old.json").string());
  CHECK(old.x_lo.empty());
  write_text(f.dir / "far2.csv", "x\n1000\n");
  PredictOptions p = f.prediction("old_pred.csv");
  p.model_path = (f.dir / "old.json").string();
  p.data_path = (f.dir / "far2.csv").string();
  p.flag_extrapolation = true;
  const PredictSummary s = run_predict(p);
  CHECK(s.extrapolation.outside == 0);
  CHECK(cell(read_csv(f.dir / "old_pred.csv"), 0, "outside_training") == 0);
  // A malformed range is refused with the key named.
  j["x_range"] = {{"lo", {2.0}}, {"hi", {1.0}}};
  CHECK_THROWS_WITH_AS(checkpoint_from_json(j, "m.json"), "m.json: 'x_range.lo[0]' must not be above 'x_range.hi[0]'",
                       DataError);
}

// ------------------------------------------------------------------ sample weights

namespace {

// DIR/train_w.csv: the fixture's rows with a weight column w (all `weight`, or 0, 1, 2, 3 cycling).
fs::path weighted_copy(const Fixture& f, const std::string& name, bool all_ones) {
  const Table t = read_csv(f.dir / "train.csv");
  const fs::path path = f.dir / name;
  std::ofstream out(path);
  out << "x,w,y\n";
  for (std::size_t r = 0; r < t.rows(); ++r) {
    out << format_number(cell(t, r, "x")) << "," << (all_ones ? 1 : static_cast<int>(r % 4)) << ","
        << format_number(cell(t, r, "y")) << "\n";
  }
  return path;
}

}  // namespace

TEST_CASE("--weight: all weights 1 give the unweighted checkpoint; other weights change it; the column is no feature") {
  const Fixture& f = fixture();
  TrainOptions ones = f.training(f.dir / "ones.json");
  ones.data_path = weighted_copy(f, "train_ones.csv", true).string();
  ones.weight = "w";
  const TrainSummary s1 = run_train(ones);
  CHECK(s1.checkpoint.features == std::vector<std::string>{"x"});
  nlohmann::ordered_json a = nlohmann::ordered_json::parse(read_file(f.dir / "ones.json"));
  nlohmann::ordered_json b = nlohmann::ordered_json::parse(read_file(f.model));
  CHECK(a["training"]["weight"] == "w");
  a["training"].erase("weight");
  a["training"]["data"] = b["training"]["data"];
  CHECK(a.dump(1) == b.dump(1));  // same parameters, results and history to the last bit

  TrainOptions varied = ones;
  varied.model_path = (f.dir / "varied.json").string();
  varied.data_path = weighted_copy(f, "train_varied.csv", false).string();
  const TrainSummary s2 = run_train(varied);
  CHECK(s2.checkpoint.params != s1.checkpoint.params);
}

TEST_CASE("--weight: negative weights are refused with file:line:col; zero weights are allowed") {
  const Fixture& f = fixture();
  write_text(f.dir / "neg.csv", "x,y,w\n0,1,1\n1,2,0\n2,3,-1\n3,4,1\n");
  TrainOptions o = f.training(f.dir / "neg.json");
  o.data_path = (f.dir / "neg.csv").string();
  o.weight = "w";
  const std::string expected = (f.dir / "neg.csv").string() + ":4:3: column 'w': a weight must be a finite number >= 0, found -1";
  CHECK_THROWS_WITH_AS(run_train(o), expected.c_str(), DataError);
  CHECK_FALSE(fs::exists(f.dir / "neg.json"));
  o.weight = "y";
  CHECK_THROWS_WITH_AS(run_train(o), "--weight: column 'y' cannot be a feature or a target as well", UsageError);
}

TEST_CASE("ebm-predict --metrics: weighted means with the checkpoint's weight column, against a hand computation") {
  const Fixture& f = fixture();
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_file(f.model));
  j["training"]["weight"] = "w";
  write_text(f.dir / "wmodel.json", j.dump(1));
  const Table test = read_csv(f.dir / "test.csv");
  std::ofstream data(f.dir / "test_w.csv");
  data << "x,y,w\n";
  std::vector<double> w;
  for (std::size_t r = 0; r < test.rows(); ++r) {
    w.push_back(r % 3 == 0 ? 0.0 : (r % 3 == 1 ? 1.0 : 2.5));
    data << format_number(cell(test, r, "x")) << "," << format_number(cell(test, r, "y")) << "," << format_number(w.back())
         << "\n";
  }
  data.close();
  PredictOptions p = f.prediction("wpred.csv");
  p.model_path = (f.dir / "wmodel.json").string();
  p.data_path = (f.dir / "test_w.csv").string();
  p.intervals = {0.8};
  p.metrics_path = (f.dir / "wmetrics.json").string();
  const PredictSummary weighted = run_predict(p);
  p.model_path = f.model;  // no weight column recorded: unweighted
  p.output_path = (f.dir / "upred.csv").string();
  p.metrics_path = (f.dir / "umetrics.json").string();
  const PredictSummary unweighted = run_predict(p);
  CHECK(read_file(f.dir / "wpred.csv") == read_file(f.dir / "upred.csv"));  // the predictions themselves are the same

  const Table pred = read_csv(f.dir / "wpred.csv");
  double sw = 0, se_w = 0, ae_w = 0, cov_w = 0, se = 0, ae = 0;
  for (std::size_t r = 0; r < pred.rows(); ++r) {
    const double y = cell(test, r, "y"), error = cell(pred, r, "y_mean") - y;
    const bool covered = y >= cell(pred, r, "y_lo") && y <= cell(pred, r, "y_hi");
    sw += w[r];
    se_w += w[r] * error * error;
    ae_w += w[r] * std::abs(error);
    cov_w += covered ? w[r] : 0.0;
    se += error * error;
    ae += std::abs(error);
  }
  const auto& m = weighted.metrics;
  const auto& u = unweighted.metrics;
  CHECK(m["weight_column"] == "w");
  CHECK(m["weight_sum"].get<double>() == doctest::Approx(sw));
  CHECK(m["rmse"].get<double>() == doctest::Approx(std::sqrt(se_w / sw)).epsilon(1e-7));
  CHECK(m["mae"].get<double>() == doctest::Approx(ae_w / sw).epsilon(1e-7));
  CHECK(m["coverage"].get<double>() == doctest::Approx(cov_w / sw).epsilon(1e-12));
  CHECK(m["targets"]["y"]["mae"].get<double>() == doctest::Approx(ae_w / sw).epsilon(1e-7));
  CHECK(u["rmse"].get<double>() == doctest::Approx(std::sqrt(se / test.rows())).epsilon(1e-7));
  CHECK(u["mae"].get<double>() == doctest::Approx(ae / test.rows()).epsilon(1e-7));
  CHECK_FALSE(u.contains("weight_column"));
  CHECK(m["mae"].get<double>() != doctest::Approx(u["mae"].get<double>()).epsilon(1e-6));  // the weights matter here
  CHECK(m["rows"] == u["rows"]);
  CHECK(m["mean_ess"] == u["mean_ess"]);  // per row

  // A negative weight in the input: the cell named.
  write_text(f.dir / "test_neg.csv", "x,y,w\n0.5,1,1\n0.7,1,-2\n");
  p.model_path = (f.dir / "wmodel.json").string();
  p.data_path = (f.dir / "test_neg.csv").string();
  p.output_path = (f.dir / "negpred.csv").string();
  const std::string expected = (f.dir / "test_neg.csv").string() + ":3:3: column 'w': a weight must be >= 0, found -2";
  CHECK_THROWS_WITH_AS(run_predict(p), expected.c_str(), DataError);
}

// ------------------------------------------------------------------ warm start

TEST_CASE("--init-model: starts from the model's parameters and keeps its normalisation") {
  const Fixture& f = fixture();
  // New data: x shifted beyond the old range, so its own statistics would differ.
  std::ofstream data(f.dir / "new.csv");
  data << "x,y\n";
  for (int i = 0; i < 80; ++i) data << 1.5 + i * 0.02 << "," << std::sin(3.0 * (1.5 + i * 0.02)) << "\n";
  data.close();
  const Checkpoint old = load_checkpoint(f.model);
  TrainOptions o = f.training(f.dir / "tuned.json");
  o.data_path = (f.dir / "new.csv").string();
  o.init_model_path = f.model;
  o.settings.epochs = 1;
  o.settings.learning_rate = 1e-30;  // a step too small to move the parameters noticeably
  o.settings.valid_fraction = 0;
  o.settings.calibrate = false;
  const TrainSummary s = run_train(o);
  const Checkpoint& tuned = s.checkpoint;
  REQUIRE(tuned.params.size() == old.params.size());
  double max_change = 0;
  for (std::size_t i = 0; i < old.params.size(); ++i) {
    max_change = std::max(max_change, static_cast<double>(std::abs(tuned.params[i] - old.params[i])));
  }
  CHECK(max_change < 1e-20);  // the old parameters (a fresh initialisation would differ by ~0.1)
  CHECK(tuned.x_scaler.mean == old.x_scaler.mean);
  CHECK(tuned.x_scaler.scale == old.x_scaler.scale);
  CHECK(tuned.y_scaler.mean == old.y_scaler.mean);
  CHECK(tuned.x_lo[0] == old.x_lo[0]);  // the ranges cover old and new data
  CHECK(tuned.x_hi[0] == doctest::Approx(1.5 + 79 * 0.02));
  CHECK(tuned.training["init_model"] == f.model);
  // Predictions of the warm-started model are the old model's.
  PredictOptions a = f.prediction("old_p.csv"), b = f.prediction("tuned_p.csv");
  b.model_path = (f.dir / "tuned.json").string();
  run_predict(a);
  run_predict(b);
  const Table pa = read_csv(f.dir / "old_p.csv"), pb = read_csv(f.dir / "tuned_p.csv");
  for (std::size_t r = 0; r < pa.rows(); ++r) CHECK(cell(pb, r, "y_mean") == doctest::Approx(cell(pa, r, "y_mean")));
  // A real fine-tuning run moves them.
  o.settings.learning_rate = 1e-2;
  o.model_path = (f.dir / "tuned2.json").string();
  CHECK(run_train(o).checkpoint.params != old.params);
}

TEST_CASE("--init-model: a different architecture, different columns or --resume are refused, naming what differs") {
  const Fixture& f = fixture();
  TrainOptions o = f.training(f.dir / "bad_init.json");
  o.init_model_path = f.model;
  o.architecture.hidden = 16;
  CHECK_THROWS_WITH_AS(run_train(o),
                       (f.model + ": --init-model has a different architecture: hidden is 8 there, 16 in this run (give the "
                                  "model's architecture options)").c_str(),
                       DataError);
  o.architecture.hidden = 8;
  write_text(f.dir / "other_cols.csv", "z,y\n0,1\n1,2\n2,3\n3,1\n4,2\n");
  o.data_path = (f.dir / "other_cols.csv").string();
  CHECK_THROWS_WITH_AS(run_train(o),
                       (f.model + ": --init-model has the features x, this run z (the same features, in the same order, "
                                  "are needed)").c_str(),
                       DataError);
  o.resume_path = f.model;
  CHECK_THROWS_AS(run_train(o), UsageError);
  CHECK_FALSE(fs::exists(f.dir / "bad_init.json"));
}
