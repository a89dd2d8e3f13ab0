// Checkpoints: a save/load round trip preserves every bit and every prediction; each
// malformed field is rejected with a message naming it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <unistd.h>

#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/errors.h"

using namespace ebm;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Fixture {
  fs::path dir;
  std::string model;
  Fixture() {
    dir = fs::temp_directory_path() / ("ebm-test-checkpoint-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream data(dir / "train.csv");
    data << "a,b,y\n";
    for (int i = 0; i < 200; ++i) data << i * 0.01 << "," << (i % 7) * 0.3 << "," << (i % 5) - 0.02 * i << "\n";
    data.close();
    TrainOptions o;
    o.data_path = (dir / "train.csv").string();
    o.model_path = model = (dir / "model.json").string();
    o.targets = {"y"};
    o.architecture.hidden = 6;
    o.architecture.components = 2;
    o.settings.epochs = 2;
    o.settings.samples = 8;
    o.verbosity = 0;
    run_train(o);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

}  // namespace

TEST_CASE("checkpoint round trip: identical parameters, identical JSON, identical predictions") {
  const Fixture& f = fixture();
  const Checkpoint c = load_checkpoint(f.model);
  const fs::path copy = f.dir / "copy.json";
  save_checkpoint(c, copy.string());
  const Checkpoint d = load_checkpoint(copy.string());
  REQUIRE(c.params.size() == d.params.size());
  for (std::size_t i = 0; i < c.params.size(); ++i) REQUIRE(c.params[i] == d.params[i]);
  CHECK(c.x_scaler.mean == d.x_scaler.mean);
  CHECK(c.y_scaler.scale == d.y_scaler.scale);
  CHECK(read_file(f.model) == read_file(copy));
  PredictOptions p;
  p.data_path = (f.dir / "train.csv").string();
  p.interval = 0.8;
  p.logpdf = true;
  p.samples = 64;
  p.model_path = f.model;
  p.output_path = (f.dir / "p1.csv").string();
  run_predict(p);
  p.model_path = copy.string();
  p.output_path = (f.dir / "p2.csv").string();
  run_predict(p);
  CHECK(read_file(f.dir / "p1.csv") == read_file(f.dir / "p2.csv"));
}

TEST_CASE("each malformed checkpoint field is rejected with its own message") {
  const Fixture& f = fixture();
  const nlohmann::ordered_json good = nlohmann::ordered_json::parse(read_file(f.model));
  struct Case {
    const char* expected;
    std::function<void(nlohmann::ordered_json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"missing key 'format'", [](nlohmann::ordered_json& j) { j.erase("format"); }},
      {"format is 'other'", [](nlohmann::ordered_json& j) { j["format"] = "other"; }},
      {"format_version 2 is not supported", [](nlohmann::ordered_json& j) { j["format_version"] = 2; }},
      {"missing key 'features'", [](nlohmann::ordered_json& j) { j.erase("features"); }},
      {"'features' has 1 names", [](nlohmann::ordered_json& j) { j["features"] = {"a"}; }},
      {"missing key 'normalization.x_scale'", [](nlohmann::ordered_json& j) { j["normalization"].erase("x_scale"); }},
      {"'normalization.x_scale[0]' must be positive", [](nlohmann::ordered_json& j) { j["normalization"]["x_scale"][0] = 0; }},
      {"'normalization.y_mean[0]' is not a finite number",
       [](nlohmann::ordered_json& j) { j["normalization"]["y_mean"][0] = "NaN"; }},
      {"missing key 'architecture.hidden'", [](nlohmann::ordered_json& j) { j["architecture"].erase("hidden"); }},
      {"'architecture.hidden' must be at least 1", [](nlohmann::ordered_json& j) { j["architecture"]["hidden"] = 0; }},
      {"'architecture.hidden' must be at most", [](nlohmann::ordered_json& j) { j["architecture"]["hidden"] = 4294967360LL; }},
      {"'architecture.activation' is 'gelu'", [](nlohmann::ordered_json& j) { j["architecture"]["activation"] = "gelu"; }},
      {"missing key 'parameters.joint.wx'", [](nlohmann::ordered_json& j) { j["parameters"].erase("joint.wx"); }},
      {"'parameters.joint.wx.shape' is [1,1]", [](nlohmann::ordered_json& j) { j["parameters"]["joint.wx"]["shape"] = {1, 1}; }},
      {"'parameters.joint.bias.values' has 5 values",
       [](nlohmann::ordered_json& j) { j["parameters"]["joint.bias"]["values"].erase(0); }},
      {"'parameters.joint.bias.values[0]' is not a finite number",
       [](nlohmann::ordered_json& j) { j["parameters"]["joint.bias"]["values"][0] = nullptr; }},
      {"unexpected parameter 'extra.weight'",
       [](nlohmann::ordered_json& j) { j["parameters"]["extra.weight"] = {{"shape", {1, 1}}, {"values", {0.0}}}; }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.expected);
    nlohmann::ordered_json j = good;
    c.mutate(j);
    std::string message;
    try {
      checkpoint_from_json(j, "m.json");
    } catch (const DataError& e) {
      message = e.what();
    }
    CHECK(message.find(c.expected) != std::string::npos);
    CHECK(message.rfind("m.json: ", 0) == 0);
  }
  // And the unmodified file loads.
  CHECK_NOTHROW(checkpoint_from_json(good, "m.json"));
}
