// A model trained on the generated bimodal data set (data/bimodal_train.csv), trained
// once per test run and shared by every test file that needs a realistic checkpoint
// (an inline function's static is one object across translation units).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/inference.h"

namespace ebm::testing {

inline const std::string kData = std::string(EBM_SOURCE_DIR) + "/data/";

// Under AddressSanitizer + UndefinedBehaviorSanitizer the training step runs 20-40x
// slower (Eigen's inlined kernels are instrumented access by access), which would put
// the training tests alone at five minutes. The sanitized build (EBM_SANITIZED, set by
// CMake for `make test-sanitize`) therefore trains briefly and runs every code path
// without the accuracy assertions, which need a well-trained model; the normal build
// asserts them.
#ifdef EBM_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct TrainedModel {
  std::filesystem::path dir;
  std::string model_path;
  TrainSummary summary;
};

// Trained on first use (a few seconds).
inline const TrainedModel& bimodal_model() {
  static const TrainedModel trained = [] {
    TrainedModel t;
    t.dir = std::filesystem::temp_directory_path() / ("ebm-test-training-" + std::to_string(::getpid()));
    std::filesystem::create_directories(t.dir);
    t.model_path = (t.dir / "model.json").string();
    TrainOptions o;
    o.data_path = kData + "bimodal_train.csv";
    o.model_path = t.model_path;
    o.targets = {"y"};
    o.architecture.hidden = 32;
    o.architecture.activation = Activation::silu;
    o.settings.epochs = kSanitized ? 3 : 30;
    o.settings.samples = kSanitized ? 32 : 128;
    o.settings.batch_size = 32;
    o.settings.learning_rate = 3e-3;
    o.settings.threads = 2;
    o.settings.seed = 1;
    o.verbosity = 0;
    t.summary = run_train(o);
    return t;
  }();
  return trained;
}

// The whole content of a file ("" if it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// The first `rows` rows of data/bimodal_test.csv standardised with c's scaler, with the
// random stream ebm-predict gives each.
struct HeldOut {
  Matrix<float> x;
  std::vector<std::uint64_t> streams;
};

inline HeldOut held_out_rows(const Checkpoint& c, int rows) {
  const Table t = read_table(kData + "bimodal_test.csv", {}, {"x", "y"});
  HeldOut h;
  h.x.resize(1, rows);
  for (int r = 0; r < rows; ++r) {
    const double x = t.values(r, t.column_index("x"));
    h.x(0, r) = static_cast<float>(c.x_scaler.to_standard(0, x));
    h.streams.push_back(row_stream(&x, 1));
  }
  return h;
}

}  // namespace ebm::testing
