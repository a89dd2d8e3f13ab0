// ebm-inspect: what a checkpoint holds (columns, settings, training history, calibration)
// and, given data with the targets, permutation importance of each feature.
//
// Importance of feature j = mean NLL of the data with column j shuffled (a seeded
// permutation of the rows) minus the mean NLL of the data as it is. Both NLLs are computed
// exactly as ebm-predict --metrics computes "nll" (ensemble_importance_sample, then
// ensemble_log_density, per task of rows), and every row keeps its own random stream (that
// of its unshuffled features) in all of them, so the difference measures the feature and
// not the Monte Carlo noise of two independent estimates (common random numbers).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>

#include "ebm/commands.h"
#include "ebm/ensemble.h"
#include "ebm/errors.h"
#include "ebm/input_chunks.h"
#include "ebm/rng.h"
#include "ebm/settings.h"
#include "ebm/streams.h"

namespace ebm {

namespace {

using Json = nlohmann::ordered_json;

void validate(const InspectOptions& o) {
  if (o.model_path.empty()) throw UsageError("MODEL is required (a checkpoint written by ebm-train)");
  if (o.samples < 2) throw UsageError("--samples must be at least 2");
  if (o.repeats < 1) throw UsageError("--repeats must be at least 1");
  if (o.threads < 1) throw UsageError("--threads must be at least 1");
}

// The training range of target d, recovered from the support: ebm-train widens [min, max]
// by pad = max(span / 2, sd) on each side (set_support_from_range). For three rows or
// more sd <= span / 2, so width = 2 span; otherwise width = span + 2 sd. The two cases
// cannot both hold, so the range is determined.
std::pair<double, double> target_training_range(const Checkpoint& c, std::size_t d) {
  const double lo = c.y_support_lo[d], hi = c.y_support_hi[d], sd = c.y_scaler.scale[d];
  double span = 0.5 * (hi - lo);
  if (0.5 * span < sd * (1 - 1e-9)) span = std::max(0.0, hi - lo - 2 * sd);
  const double pad = 0.5 * (hi - lo - span);
  return {lo + pad, hi - pad};
}

// One entry per column. "kind" says how the model reads the column: "numeric" (standardised
// by the training mean and sd; "missing_in_training" when it has a missing-value indicator)
// or "categorical" (one-hot over "levels"); "training_range" when the checkpoint keeps it.
Json feature_entries(const Checkpoint& c) {
  Json out = Json::array();
  for (std::size_t j = 0; j < c.features.size(); ++j) {
    const bool categorical = is_categorical(c.feature_encoding, j);
    Json f = {{"name", c.features[j]}, {"kind", categorical ? "categorical" : "numeric"}};
    if (categorical) {
      f["levels"] = c.feature_encoding[j].levels;
    } else {
      f["mean"] = c.x_scaler.mean[j];
      f["sd"] = c.x_scaler.scale[j];
      if (j < c.x_lo.size()) f["training_range"] = {c.x_lo[j], c.x_hi[j]};
    }
    f["missing_in_training"] = j < c.feature_encoding.size() && c.feature_encoding[j].missing_in_training;
    out.push_back(f);
  }
  return out;
}

Json target_entries(const Checkpoint& c) {
  Json out = Json::array();
  for (std::size_t d = 0; d < c.targets.size(); ++d) {
    Json t = {{"name", c.targets[d]}, {"kind", "numeric"}, {"mean", c.y_scaler.mean[d]}, {"sd", c.y_scaler.scale[d]}};
    if (!c.y_support_lo.empty()) {
      const auto [lo, hi] = target_training_range(c, d);
      t["training_min"] = lo;
      t["training_max"] = hi;
      t["support"] = {c.y_support_lo[d], c.y_support_hi[d]};
    }
    if (d < c.y_lattice.size() && c.y_lattice[d].discrete()) {
      t["lattice"] = {{"step", c.y_lattice[d].step}, {"origin", c.y_lattice[d].origin}, {"values", c.y_lattice[d].values}};
    }
    out.push_back(t);
  }
  return out;
}

// The run's figures without the per-epoch list: what was kept, and how the validation NLL
// went from the first epoch to the kept one.
Json history_summary(const Json& results) {
  Json out = Json::object();
  if (!results.is_object()) return out;
  for (const char* key : {"epochs_run", "best_epoch", "stopped_early", "interrupted", "train_loss",
                          "train_proposal_nll", "valid_nll", "valid_proposal_nll"}) {
    if (results.contains(key)) out[key] = results[key];
  }
  const auto history = results.find("history");
  if (history != results.end() && history->is_array() && !history->empty() && history->front().is_object()) {
    out["first_epoch_valid_nll"] = history->front().value("valid_nll", Json(nullptr));
  }
  return out;
}

// Per member: the temperature and proposal width baked into its parameters, and the
// validation NLL after calibration (calibration's own estimate; see docs/usage.md).
Json calibration_entries(const Checkpoint& c) {
  std::vector<const Json*> results{&c.results};
  for (const EnsembleMember& m : c.more_members) results.push_back(&m.results);
  Json out = Json::array();
  for (const Json* r : results) {
    Json entry = Json::object();
    if (r->is_object()) {
      for (const char* key : {"temperature", "proposal_scale", "valid_nll_calibrated", "member_seed"}) {
        if (r->contains(key)) entry[key] = (*r)[key];
      }
    }
    out.push_back(entry);
  }
  return out;
}

// The checkpoint's "training" record without the recorded --config text (its settings
// are the other keys).
Json training_entry(const Checkpoint& c) {
  Json out = Json::object();
  if (!c.training.is_object()) return out;
  for (const auto& item : c.training.items()) {
    if (item.key() != "config") out[item.key()] = item.value();
  }
  return out;
}

// ------------------------------------------------------------ permutation importance

struct NllContext {
  const Checkpoint& c;
  const std::vector<Member>& members;
  TargetSupport support;
  int samples;
  std::uint64_t seed;
};

// Mean NLL (user's units) of the rows of x_std / y_std, each row with streams[row]: the
// computation of ebm-predict's "nll", summed per task and then in task order (so the
// result does not depend on the thread count).
double mean_nll(const NllContext& ctx, ThreadPool& pool, const Matrix<float>& x_std, const Matrix<float>& y_std,
                const std::vector<std::uint64_t>& streams) {
  const int n = static_cast<int>(x_std.cols());
  const int per_task = rows_per_task(ctx.samples);
  std::vector<double> task_sums(static_cast<std::size_t>(task_count(n, per_task)), 0.0);
  run_tasks(pool, n, per_task, [&](const TaskRows& rows) {
    const std::vector<std::uint64_t> task_streams(streams.begin() + rows.begin,
                                                  streams.begin() + rows.begin + rows.count);
    const EnsembleSample es =
        ensemble_importance_sample(ctx.members, x_std.middleCols(rows.begin, rows.count), ctx.samples,
                                   ctx.seed, static_cast<std::size_t>(rows.begin), &task_streams, ctx.support);
    const std::vector<double> lp =
        ensemble_log_density(ctx.members, es, y_std.middleCols(rows.begin, rows.count));
    const double log_jacobian = ctx.c.y_scaler.log_jacobian();
    double sum = 0;
    for (double v : lp) sum -= v - log_jacobian;
    task_sums[rows.index] = sum;
  });
  double total = 0;
  for (double s : task_sums) total += s;
  return total / n;
}

// The rows of `x` that encode one feature (feature_encoding.h): `width` rows from `first`
// (its value and missing indicator, or its one-hot block), shuffled together across the
// columns in a seeded random order.
Matrix<float> shuffled_feature(const Matrix<float>& x, int first, int width, std::uint64_t seed, std::uint64_t stream) {
  std::vector<Eigen::Index> order(static_cast<std::size_t>(x.cols()));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed ^ streams::kPermutation, stream);
  for (std::size_t i = order.size(); i-- > 1;) std::swap(order[i], order[rng.below(i + 1)]);
  Matrix<float> out = x;
  for (std::size_t r = 0; r < order.size(); ++r) {
    out.block(first, static_cast<Eigen::Index>(r), width, 1) = x.block(first, order[r], width, 1);
  }
  return out;
}

// Keeps the rows whose targets are all present (a row with a missing target has no NLL).
void drop_rows_without_target(InputChunk& data) {
  std::vector<Eigen::Index> keep;
  for (Eigen::Index r = 0; r < data.x_std.cols(); ++r) {
    if (!data.target_missing[static_cast<std::size_t>(r)]) keep.push_back(r);
  }
  if (keep.empty()) throw DataError("no data row has all its target values, for permutation importance");
  if (keep.size() == static_cast<std::size_t>(data.x_std.cols())) return;
  Matrix<float> x(data.x_std.rows(), static_cast<Eigen::Index>(keep.size()));
  Matrix<float> y(data.y_std.rows(), static_cast<Eigen::Index>(keep.size()));
  std::vector<std::uint64_t> streams;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    x.col(static_cast<Eigen::Index>(i)) = data.x_std.col(keep[i]);
    y.col(static_cast<Eigen::Index>(i)) = data.y_std.col(keep[i]);
    streams.push_back(data.streams[static_cast<std::size_t>(keep[i])]);
  }
  data.x_std = std::move(x);
  data.y_std = std::move(y);
  data.streams = std::move(streams);
}

Json permutation_importance(const InspectOptions& o, const Checkpoint& c) {
  CsvReader reader(o.data_path, o.csv);
  const InputColumns cols = resolve_columns(reader, c, {}, true, "permutation importance");
  InputChunk data;
  EncodingCounts counts;
  if (!read_chunk(reader, c, cols, std::numeric_limits<int>::max(), 0, data, counts)) {
    throw DataError(reader.source() + ": no data rows for permutation importance");
  }
  drop_rows_without_target(data);
  const std::vector<Member> members = ensemble_members(c);
  const NllContext ctx{c, members, standardised_support(c), o.samples, o.seed};
  ThreadPool pool(o.threads);
  const double baseline = mean_nll(ctx, pool, data.x_std, data.y_std, data.streams);
  if (!std::isfinite(baseline)) throw NumericalError(reader.source() + ": the NLL of the data is not finite");
  Json features = Json::array();
  int first = 0;  // the feature's first encoded input
  for (int j = 0; j < static_cast<int>(c.features.size()); ++j) {
    const int width = c.feature_encoding.empty() ? 1 : c.feature_encoding[static_cast<std::size_t>(j)].width();
    std::vector<double> increases;
    for (int r = 0; r < o.repeats; ++r) {
      const std::uint64_t stream = static_cast<std::uint64_t>(j) * static_cast<std::uint64_t>(o.repeats) + r;
      const Matrix<float> x = shuffled_feature(data.x_std, first, width, o.seed, stream);
      increases.push_back(mean_nll(ctx, pool, x, data.y_std, data.streams) - baseline);
    }
    const double mean = std::accumulate(increases.begin(), increases.end(), 0.0) / o.repeats;
    double squares = 0;
    for (double v : increases) squares += (v - mean) * (v - mean);
    Json entry = {{"name", c.features[static_cast<std::size_t>(j)]}, {"nll_increase", mean}};
    if (o.repeats > 1) entry["nll_increase_sd"] = std::sqrt(squares / (o.repeats - 1));
    features.push_back(entry);
    first += width;
  }
  return {{"data", reader.source()}, {"rows", data.rows()}, {"samples", o.samples}, {"seed", o.seed},
          {"repeats", o.repeats}, {"nll", baseline}, {"features", features}};
}

// ------------------------------------------------------------------------ text form

std::string number_text(const Json& v, int digits = 5) {
  if (v.is_number()) return format_number(v.get<double>(), digits);
  if (v.is_null()) return "-";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Rows of cells as columns padded to their widest cell, two spaces apart, indented.
std::string table_text(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t k = 0; k < row.size(); ++k) widths[k] = std::max(widths[k], row[k].size());
  }
  std::ostringstream out;
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t k = 0; k < row.size(); ++k) line += " " + row[k] + std::string(widths[k] - row[k].size(), ' ') + " ";
    out << line.substr(0, line.find_last_not_of(' ') + 1) << "\n";
  }
  return out.str();
}

// "name  kind  details..." per column; the details depend on the kind.
std::string columns_text(const Json& report) {
  std::ostringstream out;
  std::vector<std::vector<std::string>> rows{{"feature", "kind", "training mean", "training sd", "training range"}};
  for (const Json& f : report["features"]) {
    std::string kind = f["kind"].get<std::string>();
    if (f.contains("levels")) kind += " (" + std::to_string(f["levels"].size()) + " levels)";
    if (f["missing_in_training"].get<bool>()) kind += ", missing values";
    const bool numeric = f.contains("mean");
    const std::string range = f.contains("training_range") ? number_text(f["training_range"][0]) + " .. " +
                                                                 number_text(f["training_range"][1])
                                                           : "-";
    rows.push_back({f["name"].get<std::string>(), kind, numeric ? number_text(f["mean"]) : "-",
                    numeric ? number_text(f["sd"]) : "-", range});
  }
  out << "features (" << report["features"].size() << "):\n" << table_text(rows);
  rows = {{"target", "kind", "training mean", "training sd", "training range", "support", "lattice step"}};
  for (const Json& t : report["targets"]) {
    std::vector<std::string> row{t["name"].get<std::string>(), t["kind"].get<std::string>(), number_text(t["mean"]),
                                 number_text(t["sd"]), "-", "-", "-"};
    if (t.contains("training_min")) {
      row[4] = number_text(t["training_min"]) + " .. " + number_text(t["training_max"]);
      row[5] = number_text(t["support"][0]) + " .. " + number_text(t["support"][1]);
    }
    if (t.contains("lattice")) row[6] = number_text(t["lattice"]["step"]);
    rows.push_back(row);
  }
  out << "targets (" << report["targets"].size() << "):\n" << table_text(rows);
  return out.str();
}

// "key value, key value" for the keys of `object` that are present.
std::string pairs_text(const Json& object, const std::vector<std::pair<const char*, const char*>>& keys) {
  std::string out;
  for (const auto& [key, label] : keys) {
    if (!object.contains(key)) continue;
    out += (out.empty() ? "" : ", ") + std::string(label) + " " + number_text(object[key]);
  }
  return out;
}

std::string run_text(const Json& report) {
  std::ostringstream out;
  const Json& t = report["training"];
  out << "training: " << pairs_text(t, {{"data", "data"}, {"rows", "rows"}, {"valid_rows", "validation rows"},
                                        {"method", "method"}, {"noise", "noise"}, {"epochs", "epochs planned"},
                                        {"batch_size", "batch size"}, {"samples", "samples"},
                                        {"learning_rate", "lr"}, {"weight_decay", "weight decay"},
                                        {"schedule", "schedule"}, {"average_decay", "average decay"},
                                        {"early_stopping", "early stopping"}, {"epoch_score", "epoch score"},
                                        {"seed", "seed"}})
      << "\n";
  const Json& h = report["history"];
  out << "history: " << pairs_text(h, {{"epochs_run", "epochs run"}, {"best_epoch", "best epoch"},
                                       {"stopped_early", "stopped early"}, {"train_loss", "train loss"},
                                       {"first_epoch_valid_nll", "valid NLL at epoch 1"},
                                       {"valid_nll", "valid NLL at the best epoch"}})
      << "\n";
  if (report.contains("x_embedding_selection")) {
    const Json& selection = report["x_embedding_selection"];
    std::string candidates;
    for (const char* name : {"none", "periodic"}) {
      if (!selection.contains(name)) continue;
      candidates += (candidates.empty() ? "" : ", ") + std::string(name) + " " + number_text(selection[name]);
    }
    const std::string kept = report["architecture"].value("x_embedding", std::string("none"));
    if (selection.contains("difference")) {  // written since the per-row difference is recorded
      // probe_epochs: written since the candidates are compared after a probe.
      const std::string when = selection.contains("probe_epochs")
                                   ? number_text(selection["probe_epochs"]) + " epoch(s) and calibration"
                                   : std::string("calibration");
      out << "x-embedding: kept " << kept << " (lower validation NLL after " << when << "): " << candidates
          << "; periodic - none " << number_text(selection["difference"], 4) << " +- "
          << number_text(selection["standard_error"], 3) << " per row\n";
    } else {
      out << "x-embedding: chosen by the validation NLL after calibration among " << candidates << "\n";
    }
  }
  const Json& members = report["calibration"];
  for (std::size_t m = 0; m < members.size(); ++m) {
    out << "calibration" << (members.size() > 1 ? " of member " + std::to_string(m + 1) : std::string())
        << ": " << pairs_text(members[m], {{"temperature", "temperature"}, {"proposal_scale", "proposal width scale"},
                                           {"valid_nll_calibrated", "valid NLL after calibration"},
                                           {"member_seed", "seed"}})
        << "\n";
  }
  if (report.contains("ensemble_calibration")) {
    out << "calibration of the ensemble: "
        << pairs_text(report["ensemble_calibration"], {{"ensemble_temperature", "shared temperature"},
                                                       {"ensemble_other_weight", "weight of the other x-embedding"},
                                                       {"ensemble_valid_nll", "valid NLL before"},
                                                       {"ensemble_valid_nll_calibrated", "after"}})
        << "\n";
  }
  if (report.contains("refit")) {
    std::string epochs;
    for (const Json& e : report["refit"]["epochs"]) epochs += (epochs.empty() ? "" : ", ") + number_text(e);
    out << "refit: every member trained again on all " << number_text(report["refit"]["rows"])
        << " rows (training and validation) for its best epoch count (" << epochs
        << "); the validation figures above are the first run's\n";
  }
  return out.str();
}

std::string importance_text(const Json& imp) {
  std::ostringstream out;
  out << "permutation importance on " << imp["data"].get<std::string>() << " (" << imp["rows"] << " rows, "
      << imp["samples"] << " samples per row, seed " << imp["seed"] << ", " << imp["repeats"]
      << " shuffle(s) per feature): NLL " << number_text(imp["nll"]) << "\n";
  std::vector<const Json*> order;
  for (const Json& f : imp["features"]) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(), [](const Json* a, const Json* b) {
    return (*a)["nll_increase"].get<double>() > (*b)["nll_increase"].get<double>();
  });
  std::vector<std::vector<std::string>> rows{{"feature", "NLL increase when shuffled"}};
  for (const Json* f : order) {
    std::string value = number_text((*f)["nll_increase"], 4);
    if (f->contains("nll_increase_sd")) value += " (sd " + number_text((*f)["nll_increase_sd"], 2) + ")";
    rows.push_back({(*f)["name"].get<std::string>(), value});
  }
  out << table_text(rows);
  return out.str();
}

}  // namespace

std::string inspect_text(const Json& report) {
  std::ostringstream out;
  out << "model: " << report["model"].get<std::string>() << " (checkpoint format " << report["format_version"] << ", "
      << report["members"] << " member(s) of " << report["parameters_per_member"] << " parameters)\n";
  std::string architecture;
  for (const auto& item : report["architecture"].items()) {
    if (item.key() == "x_dim" || item.key() == "y_dim") continue;
    architecture += (architecture.empty() ? "" : ", ") + item.key() + " " + number_text(item.value());
  }
  out << "architecture: " << architecture << "\n";
  if (report.contains("member_mix")) {
    std::string mix;
    int n = 0;
    for (const Json& m : report["member_mix"]) {
      mix += (mix.empty() ? "" : "; ") + std::to_string(++n) + ": x-embedding " + m["x_embedding"].get<std::string>() +
             ", " + number_text(m["parameters"]) + " parameters, weight " + number_text(m["weight"], 4);
    }
    out << "members (mixture weights): " << mix << "\n";
  }
  out << columns_text(report) << run_text(report);
  if (report.contains("importance")) out << importance_text(report["importance"]);
  return out.str();
}

namespace {

// An ensemble whose members differ in architecture or weight (version 4): per member, its
// x-embedding, parameter count and mixture weight.
Json member_mix_entries(const Checkpoint& c) {
  Json entries = Json::array();
  for (const Member& m : ensemble_members(c)) {
    entries.push_back({{"x_embedding", x_embedding_name(m.model.architecture().x_embedding)},
                       {"parameters", m.model.parameter_count()},
                       {"weight", m.weight}});
  }
  return entries;
}

}  // namespace

Json run_inspect(const InspectOptions& o) {
  validate(o);
  const Checkpoint c = load_checkpoint(o.model_path);
  const EnergyModel model(c.architecture);
  Json report;
  report["model"] = o.model_path;
  report["format_version"] = checkpoint_format_version(c);
  report["members"] = 1 + c.more_members.size();
  report["parameters_per_member"] = model.parameter_count();  // of member 1 when the members differ
  report["architecture"] = to_json(c.architecture);
  if (checkpoint_format_version(c) >= kMixedEnsembleVersion) report["member_mix"] = member_mix_entries(c);
  report["features"] = feature_entries(c);
  report["targets"] = target_entries(c);
  report["training"] = training_entry(c);
  report["history"] = history_summary(c.results);
  if (c.results.is_object() && c.results.contains("x_embedding_selection")) {
    report["x_embedding_selection"] = c.results["x_embedding_selection"];  // --x-embedding auto
  }
  report["calibration"] = calibration_entries(c);
  if (c.results.is_object() && c.results.contains("ensemble_temperature")) {  // an ensemble trained at once
    Json entry = Json::object();
    for (const char* key : kEnsembleCalibrationKeys) {
      if (c.results.contains(key)) entry[key] = c.results[key];
    }
    report["ensemble_calibration"] = entry;
  }
  if (c.results.is_object() && c.results.contains("refit_rows")) {  // ebm-train --refit
    Json epochs = Json::array();
    epochs.push_back(c.results.value("refit_epochs", Json(nullptr)));
    for (const EnsembleMember& m : c.more_members) epochs.push_back(m.results.value("refit_epochs", Json(nullptr)));
    report["refit"] = Json{{"rows", c.results["refit_rows"]}, {"epochs", epochs}};
  }
  if (!o.data_path.empty()) report["importance"] = permutation_importance(o, c);
  return report;
}

}  // namespace ebm
