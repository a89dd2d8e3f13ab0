// ebm-inspect's report (run_inspect): the columns and their training statistics, the run's
// record, and permutation importance on a dataset where y depends on one feature only.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <unistd.h>

#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/rng.h"

using namespace ebm;
namespace fs = std::filesystem;

namespace {

// y = 2 signal + 0.2 e with signal, noise ~ U(-1, 1): shuffling `signal` destroys the
// prediction (NLL up by about log(sd(y) / 0.2) ~ 1.8 nats), shuffling `noise` changes nothing.
void write_dataset(const fs::path& path, int rows, std::uint64_t seed, double& y_min, double& y_max) {
  Rng rng(seed, 0);
  std::ofstream out(path);
  out << std::setprecision(17) << "signal,noise,y\n";  // the file holds the doubles exactly
  y_min = INFINITY;
  y_max = -INFINITY;
  for (int i = 0; i < rows; ++i) {
    const double signal = 2 * rng.uniform() - 1, noise = 2 * rng.uniform() - 1;
    const double y = 2 * signal + 0.2 * rng.normal();
    y_min = std::min(y_min, y);
    y_max = std::max(y_max, y);
    out << signal << ',' << noise << ',' << y << '\n';
  }
}

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("ebm-test-inspect-" + std::to_string(::getpid()));
  double y_min = 0, y_max = 0, test_min = 0, test_max = 0;
  Fixture() {
    fs::create_directories(dir);
    write_dataset(dir / "train.csv", 600, 1, y_min, y_max);
    write_dataset(dir / "test.csv", 200, 2, test_min, test_max);
    TrainOptions o;
    o.data_path = (dir / "train.csv").string();
    o.model_path = (dir / "model.json").string();
    o.targets = {"y"};
    o.architecture.hidden = 16;
    o.settings.epochs = 15;
    o.settings.samples = 16;
    o.settings.valid_fraction = 0;  // every row trains: the target's training range is the data's
    o.settings.threads = 2;
    o.verbosity = 0;
    run_train(o);
  }
  ~Fixture() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE("ebm-inspect reports the columns, the run and permutation importance") {
  const Fixture f;
  InspectOptions o;
  o.model_path = (f.dir / "model.json").string();
  const nlohmann::ordered_json plain = run_inspect(o);
  CHECK(!plain.contains("importance"));
  REQUIRE(plain["features"].size() == 2);
  CHECK(plain["features"][0]["name"] == "signal");
  CHECK(plain["features"][1]["name"] == "noise");
  CHECK(plain["features"][0]["kind"] == "numeric");
  CHECK(plain["features"][0]["mean"].get<double>() == doctest::Approx(0).epsilon(0.1).scale(1));
  CHECK(plain["features"][0]["sd"].get<double>() == doctest::Approx(1 / std::sqrt(3.0)).epsilon(0.1));
  const auto& target = plain["targets"][0];
  CHECK(target["name"] == "y");
  // Recovered from the support; exact up to rounding.
  CHECK(target["training_min"].get<double>() == doctest::Approx(f.y_min).epsilon(1e-9));
  CHECK(target["training_max"].get<double>() == doctest::Approx(f.y_max).epsilon(1e-9));
  CHECK(plain["training"]["rows"] == 600);
  CHECK(plain["history"]["epochs_run"] == 15);
  CHECK(plain["members"] == 1);
  CHECK(plain["calibration"][0]["temperature"] == 1.0);

  o.data_path = (f.dir / "test.csv").string();
  o.samples = 128;
  o.threads = 2;
  const nlohmann::ordered_json report = run_inspect(o);
  const auto& importance = report["importance"];
  CHECK(importance["rows"] == 200);
  const double signal = importance["features"][0]["nll_increase"].get<double>();
  const double noise = importance["features"][1]["nll_increase"].get<double>();
  CHECK(signal > 1.0);
  CHECK(std::abs(noise) < 0.2);
  CHECK(signal > noise + 0.8);

  {  // the baseline NLL is ebm-predict's, and threads change nothing
    PredictOptions p;
    p.model_path = o.model_path;
    p.data_path = o.data_path;
    p.output_path = (f.dir / "pred.csv").string();
    p.samples = o.samples;
    p.evaluate = true;
    p.threads = 3;
    const PredictSummary predicted = run_predict(p);
    CHECK(importance["nll"].get<double>() == doctest::Approx(predicted.metrics["nll"].get<double>()).epsilon(1e-12));
    o.threads = 1;
    CHECK(run_inspect(o)["importance"] == importance);
  }
  {  // the text form names what it reports
    const std::string text = inspect_text(report);
    for (const char* part : {"features (2):", "signal", "noise", "numeric", "targets (1):", "training range",
                             "permutation importance on", "NLL increase when shuffled"}) {
      CHECK_MESSAGE(text.find(part) != std::string::npos, part);
    }
    // The most important feature comes first.
    CHECK(text.find("signal", text.find("NLL increase")) < text.find("noise", text.find("NLL increase")));
  }
  {  // data without the target is refused
    std::ofstream(f.dir / "x_only.csv") << "signal,noise\n0.1,0.2\n";
    o.data_path = (f.dir / "x_only.csv").string();
    CHECK_THROWS_WITH_AS(run_inspect(o), doctest::Contains("permutation importance needs the target column 'y'"),
                         DataError);
  }
}
