#include "ebm/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include "ebm/csv.h"
#include "ebm/output_file.h"
#include "ebm/errors.h"
#include "ebm/json_reader.h"
#include "ebm/settings.h"

namespace ebm {

namespace {

// A float written as the double closest to its shortest decimal form, so the JSON says
// 0.1 rather than 0.10000000149011612 and reading it back gives the same float.
double float_for_json(float v) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  *result.ptr = '\0';
  return std::strtod(buffer, nullptr);
}

nlohmann::ordered_json floats(const ParamVector& values, const std::string& what) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (float v : values) {
    if (!std::isfinite(v)) throw NumericalError(what + " is not finite; refusing to write the checkpoint");
    array.push_back(float_for_json(v));
  }
  return array;
}

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// A checkpoint that could not be read back is never written: JSON has no inf or NaN (they
// would be written as null).
nlohmann::ordered_json doubles(const std::vector<double>& values, const std::string& what) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (double v : values) {
    if (!std::isfinite(v)) throw NumericalError(what + " is not finite; refusing to write the checkpoint");
    array.push_back(v);
  }
  return array;
}

// The "parameters" object: one entry per block of the layout, with its shape and values.
// `what` starts the message naming a non-finite block.
nlohmann::ordered_json parameters_json(const EnergyModel& model, const ParamVector& params, const std::string& what) {
  nlohmann::ordered_json parameters = nlohmann::ordered_json::object();
  for (const ParameterBlock& block : model.layout().blocks()) {
    nlohmann::ordered_json values = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < block.size(); ++i) {
      const float v = params.at(block.offset + i);
      if (!std::isfinite(v)) throw NumericalError(what + block.name + "' is not finite; refusing to write the checkpoint");
      values.push_back(float_for_json(v));
    }
    parameters[block.name] = {{"shape", {block.rows, block.cols}}, {"values", std::move(values)}};
  }
  return parameters;
}

}  // namespace

int checkpoint_format_version(const Checkpoint& c) {
  if (c.y_support_lo.empty()) return 1;
  bool mixed = !c.member_weights.empty();
  for (const EnsembleMember& m : c.more_members) mixed = mixed || m.architecture.has_value();
  if (mixed) return kMixedEnsembleVersion;
  return c.architecture.energy_form == EnergyForm::relative ? kRelativeEnergyVersion : 2;
}

nlohmann::ordered_json checkpoint_to_json(const Checkpoint& c) {
  nlohmann::ordered_json j;
  j["format"] = kCheckpointFormat;
  // A model loaded from a version 1 file has no support; it is written back as version 1
  // (without support and lattice) rather than as a version 2 file that would not load.
  const bool version1 = c.y_support_lo.empty();
  j["format_version"] = checkpoint_format_version(c);
  j["created_by"] = std::string("ebm ") + EBM_VERSION;
  j["features"] = c.features;
  j["targets"] = c.targets;
  j["normalization"] = {{"x_mean", doubles(c.x_scaler.mean, "normalization.x_mean")},
                        {"x_scale", doubles(c.x_scaler.scale, "normalization.x_scale")},
                        {"y_mean", doubles(c.y_scaler.mean, "normalization.y_mean")},
                        {"y_scale", doubles(c.y_scaler.scale, "normalization.y_scale")}};
  if (!c.x_lo.empty()) {
    j["x_range"] = {{"lo", doubles(c.x_lo, "x_range.lo")}, {"hi", doubles(c.x_hi, "x_range.hi")}};
  }
  if (!c.feature_encoding.empty()) j["feature_encoding"] = encodings_to_json(c.feature_encoding);
  if (!version1) {
    j["support"] = {{"y_lo", doubles(c.y_support_lo, "support.y_lo")},
                    {"y_hi", doubles(c.y_support_hi, "support.y_hi")}};
    nlohmann::ordered_json steps = nlohmann::ordered_json::array(), origins = nlohmann::ordered_json::array();
    for (const Lattice& l : c.y_lattice) {
      steps.push_back(l.step);
      origins.push_back(l.origin);
    }
    j["lattice"] = {{"step", steps}, {"origin", origins}};
  }
  j["architecture"] = to_json(c.architecture);
  j["training"] = c.training;
  j["results"] = c.results;
  const EnergyModel model(c.architecture);
  j["parameters"] = parameters_json(model, c.params, "parameter '");
  if (!c.more_members.empty()) {
    nlohmann::ordered_json members = nlohmann::ordered_json::array();
    for (std::size_t n = 0; n < c.more_members.size(); ++n) {
      const EnsembleMember& m = c.more_members[n];
      nlohmann::ordered_json member = nlohmann::ordered_json::object();
      if (m.architecture) member["architecture"] = to_json(*m.architecture);
      member["parameters"] = parameters_json(EnergyModel(member_architecture(c, n + 1)), m.params,
                                             "ensemble[" + std::to_string(n) + "] parameter '");
      member["results"] = m.results;
      members.push_back(std::move(member));
    }
    j["ensemble"] = std::move(members);
  }
  if (!c.member_weights.empty()) j["ensemble_weights"] = doubles(c.member_weights, "ensemble_weights");
  if (c.resume) {
    const TrainingState& r = *c.resume;
    nlohmann::ordered_json history = nlohmann::ordered_json::array();
    for (const EpochRecord& e : r.history) {
      history.push_back({number_or_null(e.train_loss), number_or_null(e.train_proposal_nll),
                         number_or_null(e.valid_nll), number_or_null(e.valid_proposal_nll),
                         number_or_null(e.valid_score), number_or_null(e.valid_temperature)});
    }
    j["resume"] = {{"epochs_done", r.epochs_done},
                   {"adam_steps", r.adam_steps},
                   {"best_epoch", r.best_epoch},
                   {"best_valid", number_or_null(r.best_valid)},
                   {"epochs_since_best", r.epochs_since_best},
                   {"history", std::move(history)},
                   {"params", floats(r.params, "resume.params")},
                   {"adam_m", floats(r.adam_m, "resume.adam_m")},
                   {"adam_v", floats(r.adam_v, "resume.adam_v")},
                   {"best_params", floats(r.best_params, "resume.best_params")}};
    if (!r.average_params.empty()) j["resume"]["average_params"] = floats(r.average_params, "resume.average_params");
    if (!c.data_fingerprint.empty()) j["resume"]["data_fingerprint"] = c.data_fingerprint;
  }
  return j;
}

namespace {

int check_format(const JsonReader& r, const nlohmann::ordered_json& root) {
  if (!root.is_object()) r.fail("not an ebm checkpoint (expected a JSON object)");
  const std::string format = r.string(root, "format", "");
  if (format != kCheckpointFormat) r.fail("format is '" + format + "', expected '" + kCheckpointFormat + "'");
  const long version = r.integer(root, "format_version", "", 0);
  if (version < kOldestCheckpointVersion || version > kCheckpointVersion) {
    r.fail("format_version " + std::to_string(version) + " is not supported (this build reads versions " +
           std::to_string(kOldestCheckpointVersion) + " to " + std::to_string(kCheckpointVersion) +
           (version > kCheckpointVersion ? "; it was written by a newer ebm" : "") + ")");
  }
  return static_cast<int>(version);
}

// Version 2: the support of each target, finite and with lo < hi.
void read_lattice(const JsonReader& r, const nlohmann::ordered_json& root, Checkpoint& c) {
  const auto& lattice = r.at(root, "lattice", "");
  const auto dy = static_cast<std::size_t>(c.architecture.y_dim);
  const std::vector<double> steps = r.numbers(lattice, "step", "lattice", dy);
  const std::vector<double> origins = r.numbers(lattice, "origin", "lattice", dy);
  c.y_lattice.assign(dy, Lattice{});
  for (std::size_t d = 0; d < dy; ++d) {
    if (steps[d] < 0) r.fail("'lattice.step[" + std::to_string(d) + "]' must be >= 0");
    c.y_lattice[d].step = steps[d];
    c.y_lattice[d].origin = origins[d];
  }
}

void read_support(const JsonReader& r, const nlohmann::ordered_json& root, Checkpoint& c) {
  const auto& support = r.at(root, "support", "");
  const auto dy = static_cast<std::size_t>(c.architecture.y_dim);
  c.y_support_lo = r.numbers(support, "y_lo", "support", dy);
  c.y_support_hi = r.numbers(support, "y_hi", "support", dy);
  for (std::size_t d = 0; d < dy; ++d) {
    if (!(c.y_support_lo[d] < c.y_support_hi[d])) {
      r.fail("'support.y_lo[" + std::to_string(d) + "]' must be below 'support.y_hi[" + std::to_string(d) + "]'");
    }
  }
}

// Column names and the architecture, which must agree on the numbers of features and targets.
void read_columns_and_architecture(const JsonReader& r, const nlohmann::ordered_json& root, const std::string& source,
                                   Checkpoint& c) {
  c.features = r.names(root, "features");
  c.targets = r.names(root, "targets");
  c.architecture = architecture_from_json(r.at(root, "architecture", ""), source);
  const Architecture& a = c.architecture;
  if (root.contains("feature_encoding")) {
    c.feature_encoding = encodings_from_json(r, root["feature_encoding"], c.features.size());
    const int width = encoded_width(c.feature_encoding, c.features.size());
    if (width != a.x_dim) {
      r.fail("'feature_encoding' gives " + std::to_string(width) + " network inputs but architecture.x_dim is " +
             std::to_string(a.x_dim));
    }
  } else if (static_cast<int>(c.features.size()) != a.x_dim) {
    r.fail("'features' has " + std::to_string(c.features.size()) + " names but architecture.x_dim is " +
           std::to_string(a.x_dim));
  }
  if (static_cast<int>(c.targets.size()) != a.y_dim) {
    r.fail("'targets' has " + std::to_string(c.targets.size()) + " names but architecture.y_dim is " +
           std::to_string(a.y_dim));
  }
}

// Optional: the training range of each feature, lo <= hi.
void read_x_range(const JsonReader& r, const nlohmann::ordered_json& root, Checkpoint& c) {
  if (!root.contains("x_range")) return;
  const auto& range = root["x_range"];
  const std::size_t dx = c.features.size();  // one per feature (x_dim counts encoded inputs)
  c.x_lo = r.numbers(range, "lo", "x_range", dx);
  c.x_hi = r.numbers(range, "hi", "x_range", dx);
  for (std::size_t j = 0; j < dx; ++j) {
    if (!(c.x_lo[j] <= c.x_hi[j])) {
      r.fail("'x_range.lo[" + std::to_string(j) + "]' must not be above 'x_range.hi[" + std::to_string(j) + "]'");
    }
  }
}

void read_normalization(const JsonReader& r, const nlohmann::ordered_json& root, Checkpoint& c) {
  const auto& norm = r.at(root, "normalization", "");
  const Architecture& a = c.architecture;
  c.x_scaler.mean = r.numbers(norm, "x_mean", "normalization", c.features.size());
  c.x_scaler.scale = r.numbers(norm, "x_scale", "normalization", c.features.size(), true);
  c.y_scaler.mean = r.numbers(norm, "y_mean", "normalization", a.y_dim);
  c.y_scaler.scale = r.numbers(norm, "y_scale", "normalization", a.y_dim, true);
  if (const int d = c.y_scaler.first_out_of_range(); d >= 0) {
    r.fail("'normalization.y_mean[" + std::to_string(d) + "]' and 'y_scale[" + std::to_string(d) +
           "]' put values a few standard deviations out beyond the double range (outputs would be infinite)");
  }
}

// Every block of the model's layout, with its shape; no block the layout does not know.
// `path` names the object in messages ("parameters", "ensemble[0].parameters").
ParamVector read_parameters(const JsonReader& r, const nlohmann::ordered_json& parameters, const std::string& path,
                            const EnergyModel& model) {
  if (!parameters.is_object()) r.fail("'" + path + "' must be an object");
  ParamVector params;
  for (const ParameterBlock& block : model.layout().blocks()) {
    const std::string block_path = path + "." + block.name;
    const auto& entry = r.at(parameters, block.name, path);
    const auto& shape = r.at(entry, "shape", block_path);
    if (!shape.is_array() || shape.size() != 2 || !shape[0].is_number_integer() || !shape[1].is_number_integer() ||
        shape[0].get<long>() != block.rows || shape[1].get<long>() != block.cols) {
      r.fail("'" + block_path + ".shape' is " + shape.dump() + ", expected [" + std::to_string(block.rows) + "," +
             std::to_string(block.cols) + "]");
    }
    const std::vector<double> values = r.numbers(entry, "values", block_path, block.size());
    // Grown block by block once each block's size is checked: allocating parameter_count()
    // up front let a few hundred bytes declaring e.g. hidden = 40000 demand gigabytes
    // before any check (found by fuzz/fuzz_checkpoint.cpp).
    if (params.size() < block.offset + block.size()) params.resize(block.offset + block.size(), 0.0f);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const float v = static_cast<float>(values[i]);
      if (!std::isfinite(v)) r.fail("'" + block_path + ".values[" + std::to_string(i) + "]' overflows a float");
      params[block.offset + i] = v;
    }
  }
  if (parameters.size() != model.layout().blocks().size()) {
    for (const auto& item : parameters.items()) {
      bool known = false;
      for (const ParameterBlock& block : model.layout().blocks()) known = known || block.name == item.key();
      const std::string name = path == "parameters" ? item.key() : path + "." + item.key();
      if (!known) r.fail("unexpected parameter '" + name + "' for this architecture");
    }
  }
  return params;
}

// Members 2..N: "ensemble" is an array of objects, each with "parameters" (checked as the
// top-level ones, against the member's "architecture" when it has one: version 4) and
// optionally "results". A member's architecture must have the checkpoint's columns.
std::vector<EnsembleMember> read_more_members(const JsonReader& r, const nlohmann::ordered_json& root,
                                              const std::string& source, const Checkpoint& c, int version) {
  std::vector<EnsembleMember> members;
  if (!root.contains("ensemble")) return members;
  const auto& ensemble = root["ensemble"];
  if (!ensemble.is_array()) r.fail("'ensemble' must be an array of members");
  for (std::size_t n = 0; n < ensemble.size(); ++n) {
    const std::string path = "ensemble[" + std::to_string(n) + "]";
    if (!ensemble[n].is_object()) r.fail("'" + path + "' must be an object");
    EnsembleMember member;
    if (ensemble[n].contains("architecture")) {
      if (version < kMixedEnsembleVersion) {
        r.fail("'" + path + ".architecture' needs format_version " + std::to_string(kMixedEnsembleVersion) +
               ", found " + std::to_string(version));
      }
      member.architecture = architecture_from_json(ensemble[n]["architecture"], source);
      if (member.architecture->x_dim != c.architecture.x_dim || member.architecture->y_dim != c.architecture.y_dim) {
        r.fail("'" + path + ".architecture' has x_dim " + std::to_string(member.architecture->x_dim) + " and y_dim " +
               std::to_string(member.architecture->y_dim) + ", the checkpoint's has " +
               std::to_string(c.architecture.x_dim) + " and " + std::to_string(c.architecture.y_dim));
      }
    }
    const EnergyModel model(member.architecture ? *member.architecture : c.architecture);
    member.params = read_parameters(r, r.at(ensemble[n], "parameters", path), path + ".parameters", model);
    if (ensemble[n].contains("results") && ensemble[n]["results"].is_object()) member.results = ensemble[n]["results"];
    members.push_back(std::move(member));
  }
  return members;
}

// Version 4, optional: one weight per member, each >= 0, summing to 1.
void read_member_weights(const JsonReader& r, const nlohmann::ordered_json& root, int version, Checkpoint& c) {
  if (!root.contains("ensemble_weights")) return;
  if (version < kMixedEnsembleVersion) {
    r.fail("'ensemble_weights' needs format_version " + std::to_string(kMixedEnsembleVersion) + ", found " +
           std::to_string(version));
  }
  const std::size_t count = c.more_members.size() + 1;
  c.member_weights = r.numbers(root, "ensemble_weights", "", count);
  double sum = 0;
  for (std::size_t n = 0; n < count; ++n) {
    if (!(c.member_weights[n] >= 0)) r.fail("'ensemble_weights[" + std::to_string(n) + "]' must be >= 0");
    sum += c.member_weights[n];
  }
  if (std::abs(sum - 1.0) > 1e-9) {
    r.fail("'ensemble_weights' must sum to 1 (they sum to " + format_number(sum, 12) + ")");
  }
}

std::vector<EpochRecord> read_resume_history(const JsonReader& r, const nlohmann::ordered_json& res, int epochs_done) {
  const auto& history = r.at(res, "history", "resume");
  if (!history.is_array() || history.size() != static_cast<std::size_t>(epochs_done)) {
    r.fail("'resume.history' must hold one entry per completed epoch");
  }
  std::vector<EpochRecord> records;
  int epoch = 0;
  for (const auto& h : history) {
    // 6 numbers; 4 before the epoch score (which was then the validation NLL).
    if (!h.is_array() || (h.size() != 4 && h.size() != 6)) {
      r.fail("'resume.history' entries must be arrays of 6 numbers");
    }
    auto value = [&](int i) { return h[i].is_number() ? h[i].get<double>() : NAN; };
    EpochRecord e;
    e.epoch = ++epoch;
    e.train_loss = value(0);
    e.train_proposal_nll = value(1);
    e.valid_nll = value(2);
    e.valid_proposal_nll = value(3);
    e.valid_score = h.size() == 6 ? value(4) : e.valid_nll;
    e.valid_temperature = h.size() == 6 ? value(5) : NAN;
    records.push_back(e);
  }
  return records;
}

TrainingState read_resume_state(const JsonReader& r, const nlohmann::ordered_json& res, std::size_t parameter_count) {
  TrainingState state;
  state.epochs_done = static_cast<int>(r.integer(res, "epochs_done", "resume", 0, 1000000));
  state.adam_steps = r.integer(res, "adam_steps", "resume", 0);
  // The counters must describe the epochs done: a best epoch of 999 after 2 epochs would
  // make the resumed run keep weights that do not exist.
  state.best_epoch = static_cast<int>(r.integer(res, "best_epoch", "resume", 0, state.epochs_done));
  state.epochs_since_best = static_cast<int>(r.integer(res, "epochs_since_best", "resume", 0, state.epochs_done));
  const auto& best_valid = r.at(res, "best_valid", "resume");
  state.best_valid = best_valid.is_number() ? best_valid.get<double>() : INFINITY;
  auto float_vector = [&](const char* key) {
    const std::vector<double> values = r.numbers(res, key, "resume", parameter_count);
    ParamVector floats(values.begin(), values.end());
    // As for the weights: a finite double beyond float range (1e39) must not load as inf
    // (found by fuzz/fuzz_checkpoint.cpp).
    for (std::size_t i = 0; i < floats.size(); ++i) {
      if (!std::isfinite(floats[i])) {
        r.fail("'resume." + std::string(key) + "[" + std::to_string(i) + "]' overflows a float");
      }
    }
    return floats;
  };
  state.params = float_vector("params");
  state.adam_m = float_vector("adam_m");
  state.adam_v = float_vector("adam_v");
  // Adam's second moments are averages of squares: a negative one is a damaged file, not
  // a model that diverged.
  for (std::size_t i = 0; i < state.adam_v.size(); ++i) {
    if (state.adam_v[i] < 0) r.fail("'resume.adam_v[" + std::to_string(i) + "]' is negative (a second moment is >= 0)");
  }
  state.best_params = float_vector("best_params");
  if (res.contains("average_params")) state.average_params = float_vector("average_params");
  state.history = read_resume_history(r, res, state.epochs_done);
  return state;
}

}  // namespace

Checkpoint checkpoint_from_json(const nlohmann::ordered_json& root, const std::string& source, bool with_resume_state) {
  const JsonReader r(root, source);
  const int version = check_format(r, root);
  Checkpoint c;
  read_columns_and_architecture(r, root, source, c);
  if (c.architecture.energy_form == EnergyForm::relative && version < kRelativeEnergyVersion) {
    r.fail("'architecture.energy_form' needs format_version " + std::to_string(kRelativeEnergyVersion) +
           ", found " + std::to_string(version));
  }
  read_normalization(r, root, c);
  read_x_range(r, root, c);
  if (version >= 2) {
    read_support(r, root, c);
    read_lattice(r, root, c);
  } else {
    c.y_lattice.assign(static_cast<std::size_t>(c.architecture.y_dim), Lattice{});
  }
  if (root.contains("training") && root["training"].is_object()) c.training = root["training"];
  if (root.contains("results") && root["results"].is_object()) c.results = root["results"];
  const EnergyModel model(c.architecture);
  c.params = read_parameters(r, r.at(root, "parameters", ""), "parameters", model);
  c.more_members = read_more_members(r, root, source, c, version);
  read_member_weights(r, root, version, c);
  if (with_resume_state && root.contains("resume")) {
    c.resume = read_resume_state(r, root["resume"], model.parameter_count());
    if (root["resume"].contains("data_fingerprint")) {
      c.data_fingerprint = r.string(root["resume"], "data_fingerprint", "resume");
    }
  }
  return c;
}

TargetSupport standardised_support(const Checkpoint& c) {
  TargetSupport support;
  for (std::size_t d = 0; d < c.y_support_lo.size(); ++d) {
    support.lo.push_back(c.y_scaler.to_standard(static_cast<int>(d), c.y_support_lo[d]));
    support.hi.push_back(c.y_scaler.to_standard(static_cast<int>(d), c.y_support_hi[d]));
  }
  return support;
}

void set_support_from_range(Checkpoint& c, const std::vector<double>& y_min, const std::vector<double>& y_max) {
  c.y_support_lo.clear();
  c.y_support_hi.clear();
  for (std::size_t d = 0; d < y_min.size(); ++d) {
    // Half the range on each side; at least one standard deviation (a single training row
    // has no range).
    const double pad = std::max(0.5 * (y_max[d] - y_min[d]), c.y_scaler.scale[d]);
    c.y_support_lo.push_back(y_min[d] - pad);
    c.y_support_hi.push_back(y_max[d] + pad);
  }
}

double snap_to_lattice(const Checkpoint& c, int d, double y) {
  const auto i = static_cast<std::size_t>(d);
  return i < c.y_lattice.size() ? c.y_lattice[i].snap(y) : y;
}

void require_lattice_target(const Checkpoint& c, const std::string& source) {
  for (const Lattice& lattice : c.y_lattice) {
    if (lattice.discrete()) return;
  }
  throw DataError(source + ": --on-lattice: no target of this model takes values on a lattice (ebm-train reports "
                           "one when it finds integer or evenly rounded targets)");
}

int features_outside_training(const Checkpoint& c, const double* x) {
  int outside = 0;
  for (std::size_t j = 0; j < c.x_lo.size(); ++j) {
    // A categorical feature's levels are checked when its cells are read (an unseen level
    // is "unknown", with its own warning); a missing value (NaN) is never outside.
    if (is_categorical(c.feature_encoding, j)) continue;
    outside += (x[j] < c.x_lo[j] || x[j] > c.x_hi[j]) ? 1 : 0;
  }
  return outside;
}

std::vector<ParamVector> member_parameters(const Checkpoint& c) {
  std::vector<ParamVector> members{c.params};
  for (const EnsembleMember& m : c.more_members) members.push_back(m.params);
  return members;
}

const Architecture& member_architecture(const Checkpoint& c, std::size_t n) {
  if (n == 0 || !c.more_members[n - 1].architecture) return c.architecture;
  return *c.more_members[n - 1].architecture;
}

std::vector<Member> ensemble_members(const Checkpoint& c) {
  const std::size_t count = c.more_members.size() + 1;
  std::vector<Member> members;
  for (std::size_t n = 0; n < count; ++n) {
    const ParamVector& params = n == 0 ? c.params : c.more_members[n - 1].params;
    const double weight = c.member_weights.empty() ? 1.0 / static_cast<double>(count) : c.member_weights[n];
    members.push_back({EnergyModel(member_architecture(c, n)), params, weight});
  }
  return members;
}

std::string ensemble_incompatibility(const Checkpoint& a, const Checkpoint& b) {
  if (a.features != b.features) return "features (" + join_names(a.features) + " vs " + join_names(b.features) + ")";
  if (a.targets != b.targets) return "targets (" + join_names(a.targets) + " vs " + join_names(b.targets) + ")";
  // Exact equality: members trained on the same rows (same data and --seed) have the same
  // statistics to the last bit; anything else means other training rows.
  if (a.feature_encoding != b.feature_encoding) return "feature_encoding";
  if (a.x_scaler.mean != b.x_scaler.mean) return "normalization (x_mean)";
  if (a.x_scaler.scale != b.x_scaler.scale) return "normalization (x_scale)";
  if (a.y_scaler.mean != b.y_scaler.mean) return "normalization (y_mean)";
  if (a.y_scaler.scale != b.y_scaler.scale) return "normalization (y_scale)";
  if (a.y_support_lo != b.y_support_lo || a.y_support_hi != b.y_support_hi) return "support";
  for (std::size_t d = 0; d < a.y_lattice.size(); ++d) {
    if (a.y_lattice[d].step != b.y_lattice[d].step || a.y_lattice[d].origin != b.y_lattice[d].origin) return "lattice";
  }
  return "";
}

Checkpoint merge_checkpoints(const std::vector<Checkpoint>& parts, const std::vector<std::string>& sources) {
  if (parts.size() < 2) throw UsageError("--merge needs at least two checkpoints");
  Checkpoint merged = parts[0];
  if (merged.y_support_lo.empty()) {
    throw DataError(sources[0] + ": a version 1 checkpoint (no support) cannot be an ensemble member; retrain it");
  }
  merged.resume.reset();  // the state to resume one member's training means nothing for the ensemble
  // A part's shared temperature (maths.md §8c) was fitted to that part's members alone.
  if (merged.results.is_object()) {
    for (const char* key : kEnsembleCalibrationKeys) merged.results.erase(key);
  }
  // Part i's members, each with its architecture written out when it differs from the
  // merged checkpoint's (member 1's), and its weight: the part's share (its members over
  // all) times the member's weight within the part.
  std::size_t total = 0;
  for (const Checkpoint& part : parts) total += part.more_members.size() + 1;
  bool equal = true;
  std::vector<double> weights;
  merged.more_members.clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string difference = ensemble_incompatibility(parts[0], parts[i]);
    if (!difference.empty()) {
      throw DataError(sources[i] + ": cannot be merged with " + sources[0] + ": " + difference +
                      " differs (members need the same columns and training rows: the same data and --seed, with "
                      "--first-member to vary the members)");
    }
    const std::vector<Member> members = ensemble_members(parts[i]);
    const double share = static_cast<double>(members.size()) / static_cast<double>(total);
    equal = equal && parts[i].member_weights.empty();
    for (std::size_t n = 0; n < members.size(); ++n) {
      weights.push_back(share * members[n].weight);
      if (i == 0 && n == 0) continue;
      EnsembleMember member{members[n].params, n == 0 ? parts[i].results : parts[i].more_members[n - 1].results, {}};
      const Architecture& a = members[n].model.architecture();
      if (!(a == merged.architecture)) member.architecture = a;
      merged.more_members.push_back(std::move(member));
    }
  }
  merged.member_weights = equal ? std::vector<double>{} : weights;
  return merged;
}

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path) {
  const nlohmann::ordered_json j = checkpoint_to_json(checkpoint);
  OutputFile out(path);
  out.stream() << j.dump(1) << '\n';
  out.commit();
}

namespace {

// The limits of checkpoint.h, checked on the raw text by a pass that allocates nothing:
// the JSON parser would build a 1 GB string or 50 million nested arrays (3-4 GB) before
// anything could look at them.
class JsonLimits {
 public:
  explicit JsonLimits(const std::string& path) : path_(path) {}
  void feed(const char* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const char c = data[i];
      if (in_string_) {
        if (escaped_) {
          escaped_ = false;
        } else if (c == '\\') {
          escaped_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        if (in_string_ && ++string_bytes_ > kMaxCheckpointStringBytes) {
          throw DataError(path_ + ": a string longer than " + std::to_string(kMaxCheckpointStringBytes) +
                          " bytes (the checkpoint reader's limit)");
        }
      } else if (c == '"') {
        in_string_ = true;
        string_bytes_ = 0;
      } else if (c == '[' || c == '{') {
        if (++depth_ > kMaxCheckpointDepth) {
          throw DataError(path_ + ": nested deeper than " + std::to_string(kMaxCheckpointDepth) +
                          " levels (the checkpoint reader's limit)");
        }
      } else if (c == ']' || c == '}') {
        --depth_;
      }
    }
  }

 private:
  std::string path_;
  bool in_string_ = false, escaped_ = false;
  std::size_t string_bytes_ = 0;
  int depth_ = 0;
};

[[noreturn]] void fail_size(const std::string& path, std::uint64_t bytes) {
  throw DataError(path + ": " + std::to_string(bytes) + " bytes, larger than a checkpoint can be (the reader's limit is " +
                  std::to_string(kMaxCheckpointBytes) + " bytes)");
}

// The checkpoint's text, checked against the limits.
std::string read_checkpoint_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
      static_cast<std::uint64_t>(info.st_size) > kMaxCheckpointBytes) {
    fail_size(path, static_cast<std::uint64_t>(info.st_size));
  }
  JsonLimits limits(path);
  std::string text;
  std::vector<char> block(1 << 16);
  while (true) {
    errno = 0;
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (in.bad()) throw DataError(path + ": cannot read: " + error_text(errno));
    if (text.size() + got > kMaxCheckpointBytes) fail_size(path, text.size() + got);  // a pipe or a growing file
    limits.feed(block.data(), got);
    text.append(block.data(), got);
    if (got < block.size()) break;
  }
  return text;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix, cut short: it
// may quote a 100,000-digit number whole.
std::string json_error_text(const std::exception& e) {
  std::string what = e.what();
  const auto pos = what.find("] ");
  if (what.rfind("[json.exception.", 0) == 0 && pos != std::string::npos) what = what.substr(pos + 2);
  constexpr std::size_t kMax = 200;
  if (what.size() > kMax) what = what.substr(0, kMax) + "...";
  return what;
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path, bool with_resume_state) {
  if (path.empty()) throw UsageError("the model path is empty");
  std::error_code ignored;
  // Opening a directory succeeds on Linux and fails only at the first read, as an
  // std::ios_base::failure without the file name: found here instead.
  if (std::filesystem::is_directory(path, ignored)) {
    throw DataError(path + ": cannot read: " + std::strerror(EISDIR));
  }
  nlohmann::ordered_json root;
  {
    const std::string text = read_checkpoint_text(path);
    try {
      root = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      // "parse error at line 3, column 5: ...".
      throw DataError(path + ": not valid JSON: " + json_error_text(e));
    } catch (const nlohmann::json::exception& e) {
      // e.g. "number overflow parsing '1e400'" (out_of_range.406).
      throw DataError(path + ": not valid JSON: " + json_error_text(e));
    }
  }
  try {
    return checkpoint_from_json(root, path, with_resume_state);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": malformed checkpoint: " + json_error_text(e));
  }
}

}  // namespace ebm
