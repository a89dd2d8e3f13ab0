// Checkpoints: a save/load round trip preserves every bit and every prediction; each
// malformed field is rejected with a message naming it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <unistd.h>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/settings.h"

using namespace ebm;
using ebm::testing::read_file;
namespace fs = std::filesystem;

namespace {

// A short training run on DIR/train.csv (features a, b; target y) writing DIR/MODEL_NAME.
TrainOptions short_training(const fs::path& dir, const std::string& model_name) {
  TrainOptions o;
  o.data_path = (dir / "train.csv").string();
  o.model_path = (dir / model_name).string();
  o.targets = {"y"};
  o.architecture.hidden = 6;
  o.architecture.components = 2;
  o.settings.epochs = 2;
  o.settings.samples = 8;
  o.verbosity = 0;
  return o;
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
    const TrainOptions o = short_training(dir, "model.json");
    model = o.model_path;
    run_train(o);
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
  p.intervals = {0.8};
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
      {"format_version 5 is not supported (this build reads versions 1 to 4; it was written by a newer ebm)",
       [](nlohmann::ordered_json& j) { j["format_version"] = 5; }},
      {"'architecture.energy_form' needs format_version 3, found 2",
       [](nlohmann::ordered_json& j) { j["architecture"]["energy_form"] = "relative"; }},
      {"'architecture.energy_form' is 'sideways', expected absolute or relative",
       [](nlohmann::ordered_json& j) { j["architecture"]["energy_form"] = "sideways"; }},
      {"format_version 0 is not supported", [](nlohmann::ordered_json& j) { j["format_version"] = 0; }},
      {"missing key 'support'", [](nlohmann::ordered_json& j) { j.erase("support"); }},
      {"'support.y_hi' has 2 values, expected 1", [](nlohmann::ordered_json& j) { j["support"]["y_hi"] = {1.0, 2.0}; }},
      {"'support.y_lo[0]' must be below 'support.y_hi[0]'",
       [](nlohmann::ordered_json& j) { j["support"]["y_lo"] = {5.0}; j["support"]["y_hi"] = {5.0}; }},
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

// ---------------------------------------------------------------------------------------
// In-memory round trip, more malformed fields, the resume block, and file-level errors.

namespace {

using Json = nlohmann::ordered_json;

// The message of the DataError that `f` throws; anything else is reported in the result
// so that a CHECK on it shows what happened instead.
std::string data_error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a DataError: ") + e.what() + ">";
  }
  return "<no exception>";
}

bool same_bits(const ParamVector& a, const ParamVector& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void check_same_checkpoint(const Checkpoint& c, const Checkpoint& d) {
  CHECK(same_bits(c.params, d.params));
  CHECK(c.features == d.features);
  CHECK(c.targets == d.targets);
  CHECK(c.x_scaler.mean == d.x_scaler.mean);  // doubles compared exactly
  CHECK(c.x_scaler.scale == d.x_scaler.scale);
  CHECK(c.y_scaler.mean == d.y_scaler.mean);
  CHECK(c.y_scaler.scale == d.y_scaler.scale);
  const Architecture &a = c.architecture, &b = d.architecture;
  CHECK(a.x_dim == b.x_dim);
  CHECK(a.y_dim == b.y_dim);
  CHECK(a.hidden == b.hidden);
  CHECK(a.x_layers == b.x_layers);
  CHECK(a.y_layers == b.y_layers);
  CHECK(a.residual_blocks == b.residual_blocks);
  CHECK(a.components == b.components);
  CHECK(a.activation == b.activation);
  CHECK(c.training == d.training);
  CHECK(c.results == d.results);
}

}  // namespace

TEST_CASE("checkpoint_to_json -> checkpoint_from_json: bit-identical, same predictions and samples") {
  const Fixture& f = fixture();
  const Checkpoint c = load_checkpoint(f.model);
  REQUIRE(c.params.size() > 0);
  REQUIRE(c.features == std::vector<std::string>{"a", "b"});

  // In memory.
  const Json j = checkpoint_to_json(c);
  const Checkpoint d = checkpoint_from_json(j, "memory");
  check_same_checkpoint(c, d);
  CHECK(!d.resume.has_value());
  CHECK(checkpoint_to_json(d) == j);
  CHECK(checkpoint_to_json(d).dump(1) == j.dump(1));

  // Through the text form, as save/load do: every float survives its shortest decimal.
  const Checkpoint e = checkpoint_from_json(Json::parse(j.dump()), "text");
  check_same_checkpoint(c, e);

  // Predictions and samples of the original file and of the round-tripped checkpoint are
  // byte-identical (full precision, every column, several threads).
  const fs::path copy = f.dir / "memory_round_trip.json";
  save_checkpoint(d, copy.string());
  PredictOptions p;
  p.data_path = (f.dir / "train.csv").string();
  p.samples = 48;
  p.intervals = {0.9};
  p.quantiles = {0.1, 0.5, 0.9};
  p.mode = true;
  p.mode_steps = 5;
  p.logpdf = true;
  p.ess = true;
  p.keep = {"a"};
  p.seed = 17;
  p.threads = 2;
  p.precision = 0;
  p.evaluate = true;
  p.model_path = f.model;
  p.output_path = (f.dir / "rt_p1.csv").string();
  const PredictSummary s1 = run_predict(p);
  p.model_path = copy.string();
  p.output_path = (f.dir / "rt_p2.csv").string();
  const PredictSummary s2 = run_predict(p);
  CHECK(s1.rows == 200);
  CHECK(s2.rows == 200);
  const std::string p1 = read_file(f.dir / "rt_p1.csv");
  CHECK(p1.rfind("a,y_mean,y_std,y_lo,y_hi,y_q0.1,y_q0.5,y_q0.9,y_mode,log_density,ess\n", 0) == 0);
  CHECK(p1 == read_file(f.dir / "rt_p2.csv"));
  CHECK(!s1.metrics.empty());
  CHECK(s1.metrics == s2.metrics);

  SampleOptions so;
  so.data_path = p.data_path;
  so.draws = 3;
  so.proposal_samples = 32;
  so.langevin_steps = 2;
  so.seed = 5;
  so.precision = 0;
  so.model_path = f.model;
  so.output_path = (f.dir / "rt_s1.csv").string();
  CHECK(run_sample(so) == 200);
  so.model_path = copy.string();
  so.output_path = (f.dir / "rt_s2.csv").string();
  CHECK(run_sample(so) == 200);
  CHECK(read_file(f.dir / "rt_s1.csv") == read_file(f.dir / "rt_s2.csv"));
}

TEST_CASE("more malformed checkpoint fields: each rejected by a DataError naming the field") {
  const Fixture& f = fixture();
  const Json good = Json::parse(read_file(f.model));
  // The fixture: features a, b (x_dim 2), target y, hidden 6.
  REQUIRE(good["architecture"]["x_dim"] == 2);
  REQUIRE(good["architecture"]["hidden"] == 6);
  REQUIRE(good["parameters"]["x_net.l0.weight"]["shape"] == Json::array({6, 2}));
  struct Case {
    const char* expected;
    std::function<void(Json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"not an ebm checkpoint (expected a JSON object)", [](Json& j) { j = Json::array({j}); }},
      {"'format' must be a string", [](Json& j) { j["format"] = 1; }},
      {"missing key 'format_version'", [](Json& j) { j.erase("format_version"); }},
      {"'format_version' must be an integer", [](Json& j) { j["format_version"] = "1"; }},
      {"'features' must be a non-empty array of column names", [](Json& j) { j["features"] = Json::array(); }},
      {"'features' must contain only strings", [](Json& j) { j["features"] = {1, 2}; }},
      {"missing key 'targets'", [](Json& j) { j.erase("targets"); }},
      {"'targets' has 2 names but architecture.y_dim is 1", [](Json& j) { j["targets"] = {"y", "z"}; }},
      {"missing key 'architecture'", [](Json& j) { j.erase("architecture"); }},
      {"'architecture.x_dim' must be at least 1", [](Json& j) { j["architecture"]["x_dim"] = 0; }},
      {"'architecture.hidden' must be an integer", [](Json& j) { j["architecture"]["hidden"] = 6.5; }},
      {"'architecture.components' must be at least 1", [](Json& j) { j["architecture"]["components"] = 0; }},
      {"missing key 'architecture.activation'", [](Json& j) { j["architecture"].erase("activation"); }},
      {"missing key 'normalization'", [](Json& j) { j.erase("normalization"); }},
      {"'normalization' is not an object", [](Json& j) { j["normalization"] = Json::array(); }},
      {"'normalization.x_scale[1]' must be positive", [](Json& j) { j["normalization"]["x_scale"][1] = -2.5; }},
      {"'normalization.y_scale[0]' must be positive", [](Json& j) { j["normalization"]["y_scale"][0] = 0.0; }},
      {"'normalization.x_mean' has 3 values, expected 2", [](Json& j) { j["normalization"]["x_mean"].push_back(0.0); }},
      {"'normalization.x_mean[1]' is not a finite number", [](Json& j) { j["normalization"]["x_mean"][1] = "inf"; }},
      {"'normalization.y_scale' must be an array of numbers", [](Json& j) { j["normalization"]["y_scale"] = 1.0; }},
      {"'parameters' must be an object", [](Json& j) { j["parameters"] = Json::array(); }},
      {"missing key 'parameters.x_net.l0.weight'", [](Json& j) { j["parameters"].erase("x_net.l0.weight"); }},
      {"'parameters.x_net.l0.weight' is not an object", [](Json& j) { j["parameters"]["x_net.l0.weight"] = 5; }},
      {"missing key 'parameters.x_net.l0.weight.shape'",
       [](Json& j) { j["parameters"]["x_net.l0.weight"].erase("shape"); }},
      {"'parameters.x_net.l0.weight.shape' is [2,6], expected [6,2]",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["shape"] = {2, 6}; }},
      {"'parameters.x_net.l0.weight.shape' is [6], expected [6,2]",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["shape"] = {6}; }},
      {"missing key 'parameters.x_net.l0.weight.values'",
       [](Json& j) { j["parameters"]["x_net.l0.weight"].erase("values"); }},
      {"'parameters.x_net.l0.weight.values' must be an array of numbers",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["values"] = Json::object(); }},
      {"'parameters.x_net.l0.weight.values' has 13 values, expected 12",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["values"].push_back(0.5); }},
      {"'parameters.x_net.l0.weight.values[5]' is not a finite number",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["values"][5] = "1.0"; }},
      {"'parameters.x_net.l0.weight.values[0]' is not a finite number",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["values"][0] = nullptr; }},
      {"'parameters.x_net.l0.weight.values[2]' overflows a float",
       [](Json& j) { j["parameters"]["x_net.l0.weight"]["values"][2] = 1e39; }},
      {"unexpected parameter 'x_net.l2.weight' for this architecture",
       [](Json& j) { j["parameters"]["x_net.l2.weight"] = j["parameters"]["x_net.l1.weight"]; }},
  };
  std::set<std::string> messages;
  for (const Case& c : cases) {
    CAPTURE(c.expected);
    Json j = good;
    c.mutate(j);
    const std::string message = data_error_message([&] { checkpoint_from_json(j, "m.json"); });
    CAPTURE(message);
    CHECK(message.rfind("m.json: ", 0) == 0);
    CHECK(message.find(c.expected) != std::string::npos);
    messages.insert(message);
  }
  CHECK(messages.size() == cases.size());  // each with its own message
  CHECK_NOTHROW(checkpoint_from_json(good, "m.json"));
}

TEST_CASE("resume block: round trip, checked only with with_resume_state") {
  const Fixture& f = fixture();
  TrainOptions o = short_training(f.dir, "resumable.json");
  o.architecture.hidden = 4;
  o.settings.samples = 4;
  o.checkpoint_every = 1;
  run_train(o);
  const Json good = Json::parse(read_file(o.model_path));
  REQUIRE(good.contains("resume"));

  const Checkpoint c = load_checkpoint(o.model_path, /*with_resume_state=*/true);
  REQUIRE(c.resume.has_value());
  CHECK(c.resume->epochs_done == 2);
  CHECK(c.resume->history.size() == 2);
  CHECK(c.resume->params.size() == c.params.size());
  CHECK(!load_checkpoint(o.model_path).resume.has_value());  // prediction ignores it
  const Checkpoint d = checkpoint_from_json(checkpoint_to_json(c), "memory", true);
  check_same_checkpoint(c, d);
  REQUIRE(d.resume.has_value());
  CHECK(same_bits(c.resume->params, d.resume->params));
  CHECK(same_bits(c.resume->adam_m, d.resume->adam_m));
  CHECK(same_bits(c.resume->adam_v, d.resume->adam_v));
  CHECK(same_bits(c.resume->best_params, d.resume->best_params));
  REQUIRE(c.resume->average_params.size() == c.params.size());  // the default --average-decay
  CHECK(same_bits(c.resume->average_params, d.resume->average_params));
  CHECK(c.resume->adam_steps == d.resume->adam_steps);
  CHECK(c.resume->best_epoch == d.resume->best_epoch);
  CHECK(checkpoint_to_json(d) == checkpoint_to_json(c));

  SUBCASE("a file written before the epoch score loads, reads as raw, and resumes only raw") {
    // 4 numbers per history entry and no training.epoch_score: the score is the
    // validation NLL, the temperature unknown.
    Json old = good;
    for (Json& h : old["resume"]["history"]) h.erase(h.begin() + 4, h.end());
    old["training"].erase("epoch_score");
    const Checkpoint o4 = checkpoint_from_json(old, "old.json", true);
    REQUIRE(o4.resume->history.size() == 2);
    for (const EpochRecord& e : o4.resume->history) {
      CHECK(std::isfinite(e.valid_nll));
      CHECK(e.valid_score == e.valid_nll);
      CHECK(std::isnan(e.valid_temperature));
    }
    CHECK_FALSE(train_settings_from_record(old["training"], "old.json").tempered_epoch_score);
    const std::string old_path = (f.dir / "old-resumable.json").string();
    std::ofstream(old_path) << old.dump();
    TrainOptions more = o;
    more.model_path = (f.dir / "resumed.json").string();
    more.resume_path = old_path;
    more.settings.epochs = 3;
    more.settings.tempered_epoch_score = true;
    CHECK_THROWS_WITH_AS(run_train(more),
                         doctest::Contains("training option 'epoch_score' differs from this run's (\"raw\" vs \"tempered\")"),
                         DataError);
    more.settings.tempered_epoch_score = false;
    CHECK_NOTHROW(run_train(more));
  }

  struct Case {
    const char* expected;
    std::function<void(Json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"missing key 'resume.params'", [](Json& j) { j["resume"].erase("params"); }},
      {"'resume.adam_m' has", [](Json& j) { j["resume"]["adam_m"].erase(0); }},
      {"'resume.adam_v[1]' is not a finite number", [](Json& j) { j["resume"]["adam_v"][1] = nullptr; }},
      {"'resume.best_params[0]' overflows a float", [](Json& j) { j["resume"]["best_params"][0] = -1e39; }},
      {"'resume.average_params' has", [](Json& j) { j["resume"]["average_params"].erase(0); }},
      {"'resume.epochs_done' must be at least 0", [](Json& j) { j["resume"]["epochs_done"] = -1; }},
      {"'resume.history' must hold one entry per completed epoch", [](Json& j) { j["resume"]["history"].erase(0); }},
      {"'resume.history' entries must be arrays of 6 numbers",
       [](Json& j) { j["resume"]["history"][0] = Json::array({1.0, 2.0}); }},
      {"'resume' is not an object", [](Json& j) { j["resume"] = 3; }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.expected);
    Json j = good;
    k.mutate(j);
    const std::string message = data_error_message([&] { checkpoint_from_json(j, "r.json", true); });
    CAPTURE(message);
    CHECK(message.rfind("r.json: ", 0) == 0);
    CHECK(message.find(k.expected) != std::string::npos);
    // Without the resume state the broken block is not even looked at.
    CHECK_NOTHROW(checkpoint_from_json(j, "r.json", false));
  }
}

TEST_CASE("load_checkpoint: unreadable files are DataErrors naming the file") {
  const Fixture& f = fixture();
  const std::string missing = (f.dir / "no-such-model.json").string();
  CHECK(data_error_message([&] { load_checkpoint(missing); }) ==
        missing + ": cannot open: No such file or directory");
  const fs::path not_json = f.dir / "not-json.json";
  std::ofstream(not_json) << "{\"format\": ";
  const std::string message = data_error_message([&] { load_checkpoint(not_json.string()); });
  CHECK(message.rfind(not_json.string() + ": not valid JSON: parse error at line 1", 0) == 0);
}

// Opening a directory succeeds on Linux; reading it throws std::ios_base::failure, which
// named neither the path nor the problem until load_checkpoint checked for it.
TEST_CASE("load_checkpoint: a directory is a DataError naming it") {
  const Fixture& f = fixture();
  const fs::path dir = f.dir / "a-directory.json";
  fs::create_directories(dir);
  const std::string message = data_error_message([&] { load_checkpoint(dir.string()); });
  CAPTURE(message);
  CHECK(message.rfind(dir.string() + ": ", 0) == 0);
  CHECK(message.find("Is a directory") != std::string::npos);
}

TEST_CASE("periodic x-embedding in a checkpoint: round trip, older form reads as none, bad keys rejected") {
  const Fixture& f = fixture();
  // A model with the embedding, trained on the fixture's data.
  TrainOptions o = short_training(f.dir, "embedded.json");
  o.architecture.x_embedding = XEmbedding::periodic;
  o.architecture.embedding_frequencies = 3;
  o.architecture.embedding_dim = 2;
  o.architecture.embedding_sigma = 0.25;
  run_train(o);
  const Checkpoint c = load_checkpoint(o.model_path);
  CHECK(c.architecture.x_embedding == XEmbedding::periodic);
  CHECK(c.architecture.embedding_sigma == 0.25);
  const Json j = checkpoint_to_json(c);
  CHECK(j["parameters"]["x_embedding.frequencies"]["shape"] == Json::array({3, 2}));
  CHECK(j["parameters"]["x_embedding.weight"]["shape"] == Json::array({2, 12}));
  CHECK(j["parameters"]["x_embedding.bias"]["shape"] == Json::array({2, 2}));
  CHECK(j["parameters"]["x_net.l0.weight"]["shape"] == Json::array({6, 4}));
  const Checkpoint d = checkpoint_from_json(Json::parse(j.dump()), "text");
  check_same_checkpoint(c, d);
  CHECK(d.architecture == c.architecture);

  // Without an embedding the architecture has no embedding keys (the older form), and
  // its sizes do not count in ==.
  const Json plain = Json::parse(read_file(f.model));
  CHECK(!plain["architecture"].contains("x_embedding"));
  const Architecture none = architecture_from_json(plain["architecture"], "m.json");
  CHECK(none.x_embedding == XEmbedding::none);
  Architecture other_sizes = none;
  other_sizes.embedding_dim = 99;
  CHECK(other_sizes == none);
  Json with_none = plain["architecture"];
  with_none["x_embedding"] = "none";
  CHECK(architecture_from_json(with_none, "m.json") == none);
  Architecture wider = c.architecture;
  wider.embedding_dim = 3;
  CHECK(wider != c.architecture);

  struct Case {
    std::string expected;
    std::function<void(Json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"'architecture.x_embedding' is 'fourier', expected none or periodic",
       [](Json& a) { a["x_embedding"] = "fourier"; }},
      {"'architecture.x_embedding' must be a string", [](Json& a) { a["x_embedding"] = 1; }},
      {"missing key 'architecture.embedding_dim'", [](Json& a) { a.erase("embedding_dim"); }},
      {"'architecture.embedding_frequencies' must be at most 256", [](Json& a) { a["embedding_frequencies"] = 257; }},
      {"'architecture.embedding_dim' must be at least 1", [](Json& a) { a["embedding_dim"] = 0; }},
      {"'architecture.embedding_sigma' must be a number in (0, 100]", [](Json& a) { a["embedding_sigma"] = 0; }},
      {"'architecture.embedding_sigma' must be a number in (0, 100]", [](Json& a) { a["embedding_sigma"] = "0.1"; }},
  };
  for (const Case& bad : cases) {
    CAPTURE(bad.expected);
    Json a = j["architecture"];
    bad.mutate(a);
    const std::string message = data_error_message([&] { architecture_from_json(a, "m.json"); });
    CHECK(message.find(bad.expected) != std::string::npos);
  }
  Architecture invalid = c.architecture;
  invalid.embedding_sigma = 101;
  CHECK_THROWS_AS(validate(invalid), UsageError);
  invalid = c.architecture;
  invalid.embedding_frequencies = 0;
  CHECK_THROWS_AS(validate(invalid), UsageError);
  invalid.x_embedding = XEmbedding::none;
  CHECK_NOTHROW(validate(invalid));  // sizes are not checked without an embedding
}
