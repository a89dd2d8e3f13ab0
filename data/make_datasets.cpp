// Writes the example datasets described in data/README.md into a directory:
//
//   make-datasets OUTPUT_DIR
//
// Every file comes from its own fixed (seed, stream) pair of ebm::Rng, so the output is
// byte-identical from run to run; tests/cli/datasets.sh checks that the committed CSVs
// match. Values are written with 6 significant digits, and the inputs are rounded to
// what is written *before* the targets are computed from them, so the formulas in the
// README hold for the numbers in the files (up to the rounding of the targets).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "ebm/csv.h"
#include "ebm/output_file.h"
#include "ebm/errors.h"
#include "ebm/rng.h"

namespace {

constexpr int kSignificantDigits = 6;
constexpr int kTrainRows = 2000;
constexpr int kTestRows = 500;
constexpr double kTwoPi = 6.283185307179586;

// Separate streams for the train and test files of a dataset: the test rows are fresh
// draws from the same process, not a reshuffle of the training rows.
constexpr std::uint64_t kTrainStream = 0;
constexpr std::uint64_t kTestStream = 1;

// The value as it will appear in the file.
double as_written(double value) {
  double parsed = 0.0;
  ebm::parse_number(ebm::format_number(value, kSignificantDigits), parsed);
  return parsed;
}

double uniform_between(ebm::Rng& rng, double low, double high) { return low + (high - low) * rng.uniform(); }

// Gamma(shape 2, scale `scale`) as the sum of two exponentials of mean `scale`.
double gamma_shape2(ebm::Rng& rng, double scale) {
  const double first = -scale * std::log(rng.uniform_positive());
  const double second = -scale * std::log(rng.uniform_positive());
  return first + second;
}

// Student-t with 4 degrees of freedom: Z / sqrt(V / 4) with V ~ chi-squared(4), and
// chi-squared(4) = Gamma(shape 2, scale 2).
double student_t4(ebm::Rng& rng) {
  const double z = rng.normal();
  const double chi_squared = gamma_shape2(rng, 2.0);
  return z / std::sqrt(chi_squared / 4.0);
}

// One row of cells, already in the order of the header.
using Row = std::vector<double>;

struct Dataset {
  std::string name;
  std::uint64_t seed;
  std::vector<std::string> columns;   // all numeric except `id` below
  bool has_id_column;                 // first column is a text id "r0001", "r0002", ...
  std::function<Row(ebm::Rng&)> draw_row;
};

// x ~ U(-3, 3). For x < 0, y is a two-component mixture around sin(2x) +- 1.5; for
// x >= 0, y is 0.5 x plus skewed noise whose scale grows with x.
Row draw_bimodal(ebm::Rng& rng) {
  const double x = as_written(uniform_between(rng, -3.0, 3.0));
  double y = 0.0;
  if (x < 0.0) {
    const bool upper_mode = rng.uniform() < 0.7;
    const double centre = std::sin(2.0 * x) + (upper_mode ? 1.5 : -1.5);
    y = centre + 0.2 * rng.normal();
  } else {
    const double centred_gamma = gamma_shape2(rng, 0.5) - 1.0;  // mean 0, right-skewed
    y = 0.5 * x + (0.1 + 0.4 * x) * centred_gamma;
  }
  return {x, y};
}

// Five standard normal inputs; x5 matters only through the interaction x4 * x5; the noise
// is heavy-tailed (t with 4 degrees of freedom) and its scale depends on x1.
Row draw_multi(ebm::Rng& rng) {
  Row x(5);
  for (double& value : x) value = as_written(rng.normal());
  const double noise = std::exp(0.5 * x[0]) * 0.3 * student_t4(rng);
  const double y = 2.0 * x[0] - x[1] + std::sin(3.0 * x[2]) + 0.5 * x[3] * x[4] + noise;
  return {x[0], x[1], x[2], x[3], x[4], y};
}

// (y1, y2) lies on a noisy ring of radius 0.8 around (x, x^2 / 2): the conditional mean
// is the empty centre of the ring, which has almost no probability.
Row draw_twotarget(ebm::Rng& rng) {
  const double x = as_written(uniform_between(rng, -2.0, 2.0));
  const double angle = uniform_between(rng, 0.0, kTwoPi);
  const double radius = 1.0 + 0.1 * rng.normal();
  const double y1 = x + 0.8 * radius * std::cos(angle);
  const double y2 = 0.5 * x * x + 0.8 * radius * std::sin(angle);
  return {x, y1, y2};
}

// A quality score in 3..9 (integers only), like a wine rating: a latent quality
// 5 + 1.5 x1 - x2 + sin(3 x3) + 0.7 N(0, 1), rounded and clipped. The target lives on a
// lattice of step 1, so a continuous density fitted to it without care grows spikes.
Row draw_quality(ebm::Rng& rng) {
  Row x(3);
  for (double& value : x) value = as_written(uniform_between(rng, 0.0, 1.0));
  const double latent = 5.0 + 1.5 * x[0] - x[1] + std::sin(3.0 * x[2]) + 0.7 * rng.normal();
  const double quality = std::min(9.0, std::max(3.0, std::round(latent)));
  return {x[0], x[1], x[2], quality};
}

// Tabular data as it comes: x ~ U(0, 4) missing in about 15% of the rows (written "NA" or
// left empty, and always in the first row), a categorical `group` in {a, b, c, d}, and
// y = offset(group) + sin(1.5 x) + sd(group) N(0, 1). In the training file about 2% of the
// targets are missing ("NA"). Cells are text here, so this dataset has its own writer.
constexpr int kMixedTrainRows = 400;
constexpr int kMixedTestRows = 200;

std::vector<std::string> draw_mixed(ebm::Rng& rng, bool first_row, bool with_missing_targets) {
  static const char* const groups[] = {"a", "b", "c", "d"};
  static const double offsets[] = {0.0, 1.5, -1.0, 3.0};
  static const double spreads[] = {0.2, 0.5, 0.2, 0.8};
  const double x = as_written(uniform_between(rng, 0.0, 4.0));
  const bool x_missing = rng.uniform() < 0.15 || first_row;
  const bool empty_token = rng.uniform() < 0.5;
  const int g = static_cast<int>(rng.below(4));
  const double y = offsets[g] + std::sin(1.5 * x) + spreads[g] * rng.normal();
  const bool y_missing = with_missing_targets && rng.uniform() < 0.02;
  const std::string x_cell =
      x_missing ? (empty_token && !first_row ? "" : "NA") : ebm::format_number(x, kSignificantDigits);
  return {x_cell, groups[g], y_missing ? "NA" : ebm::format_number(y, kSignificantDigits)};
}

void write_mixed_file(const std::filesystem::path& directory, const std::string& suffix, std::uint64_t stream,
                      int rows) {
  const std::string path = (directory / ("mixed_" + suffix + ".csv")).string();
  ebm::Rng rng(20240105, stream);
  ebm::OutputFile out(path);
  ebm::CsvWriter writer(out.stream());
  writer.write_row({"x", "group", "y"});
  for (int i = 1; i <= rows; ++i) writer.write_row(draw_mixed(rng, i == 1, suffix == "train"));
  out.commit();
  std::cerr << "make-datasets: wrote " << path << " (" << rows << " rows)\n";
}

std::string row_id(int index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "r%04d", index);
  return buffer;
}

void write_file(const Dataset& dataset, const std::filesystem::path& directory, const std::string& suffix,
                std::uint64_t stream, int rows) {
  const std::string path = (directory / (dataset.name + "_" + suffix + ".csv")).string();
  ebm::Rng rng(dataset.seed, stream);
  ebm::OutputFile out(path);
  ebm::CsvWriter writer(out.stream(), {}, kSignificantDigits);
  std::vector<std::string> header;
  if (dataset.has_id_column) header.push_back("id");
  header.insert(header.end(), dataset.columns.begin(), dataset.columns.end());
  writer.write_row(header);
  for (int i = 1; i <= rows; ++i) {
    if (dataset.has_id_column) writer.field(row_id(i));
    for (double value : dataset.draw_row(rng)) writer.field(value);
    writer.end_row();
  }
  out.commit();
  std::cerr << "make-datasets: wrote " << path << " (" << rows << " rows)\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make-datasets OUTPUT_DIR\n";
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  const std::vector<Dataset> datasets = {
      {"bimodal", 20240101, {"x", "y"}, false, draw_bimodal},
      {"multi", 20240102, {"x1", "x2", "x3", "x4", "x5", "y"}, true, draw_multi},
      {"twotarget", 20240103, {"x", "y1", "y2"}, false, draw_twotarget},
      {"quality", 20240104, {"x1", "x2", "x3", "quality"}, false, draw_quality},
  };
  try {
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error) throw ebm::DataError(directory.string() + ": cannot create directory: " + error.message());
    for (const Dataset& dataset : datasets) {
      write_file(dataset, directory, "train", kTrainStream, kTrainRows);
      write_file(dataset, directory, "test", kTestStream, kTestRows);
    }
    write_mixed_file(directory, "train", kTrainStream, kMixedTrainRows);
    write_mixed_file(directory, "test", kTestStream, kMixedTestRows);
  } catch (const ebm::Error& e) {
    std::cerr << "make-datasets: error: " << e.what() << '\n';
    return e.exit_code();
  }
  return 0;
}
