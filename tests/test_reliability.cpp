// Hostile inputs found by issue "Reliability v2": values at the edge of the double range,
// very wide headers. Each test fails on the code before the fix.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/errors.h"

using namespace ebm;
using namespace ebm::testing;

namespace {

std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ebm-test-reliability-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

// 300 rows: x = i / 300, y = sin(7x) plus `special` in row 0 (and `other` in row 1).
std::string write_data(const std::string& name, const std::string& special, const std::string& other = "") {
  const std::string path = scratch(name).string();
  std::ofstream out(path);
  out << "x,y\n";
  for (int i = 0; i < 300; ++i) {
    out << i / 300.0 << ",";
    if (i == 0) {
      out << special;
    } else if (i == 1 && !other.empty()) {
      out << other;
    } else {
      out << std::sin(7.0 * i / 300.0);
    }
    out << "\n";
  }
  return path;
}

TrainOptions tiny_training(const std::string& data, const std::string& model) {
  TrainOptions o;
  o.data_path = data;
  o.model_path = model;
  o.targets = {"y"};
  o.architecture.hidden = 4;
  o.settings.epochs = 1;
  o.settings.samples = 4;
  o.verbosity = 0;
  return o;
}

}  // namespace

TEST_CASE("a target whose variance overflows a double is standardised, and the checkpoint loads") {
  // One target of 1e160 among 300 rows: its sum of squares is 1e320 (inf); before the fix
  // the checkpoint held "y_scale": [null] and could not be read back.
  const std::string model = scratch("huge.json").string();
  run_train(tiny_training(write_data("huge.csv", "1e160"), model));
  const Checkpoint c = load_checkpoint(model);
  CHECK(std::isfinite(c.y_scaler.scale[0]));
  CHECK(c.y_scaler.scale[0] > 1e157);
}

TEST_CASE("a column whose values span more than a double can hold is refused, naming it, and no file is written") {
  const std::string model = scratch("span.json").string();
  std::filesystem::remove(model);
  try {
    run_train(tiny_training(write_data("span.csv", "1.7e308", "-1.7e308"), model));
    FAIL("training accepted targets spanning more than a double");
  } catch (const DataError& e) {
    CHECK(std::string(e.what()).find("target column 'y': its values span more than a double can hold") !=
          std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(model));
}

TEST_CASE("a header of 200,000 columns is read and searched in linear time" * doctest::timeout(10)) {
  // Before: a pairwise duplicate check and a linear search per name (100,000 columns took
  // 18.6 s; 200,000 about 75 s).
  // (50,000 under the sanitizers, which slow every access down 20-40x.)
  const int columns = kSanitized ? 50000 : 200000;
  const std::string path = scratch("wide.csv").string();
  {
    std::ofstream out(path);
    for (int j = 0; j < columns; ++j) out << (j ? "," : "") << "c" << j;
    out << "\n";
    for (int j = 0; j < columns; ++j) out << (j ? "," : "") << j;
    out << "\n";
  }
  CsvReader reader(path);
  std::size_t sum = 0;
  for (int j = 0; j < columns; ++j) sum += reader.column_index("c" + std::to_string(j));
  CHECK(sum == static_cast<std::size_t>(columns - 1) * columns / 2);
  const std::string duplicate = scratch("duplicate.csv").string();
  std::ofstream(duplicate) << "a,b,c,b\n1,2,3,4\n";
  CHECK_THROWS_WITH_AS(CsvReader{duplicate}, doctest::Contains("duplicate column name 'b' (columns 2 and 4)"),
                       DataError);
}
