// ebm-train: prepare data -> build the checkpoint's description -> [resume] -> train ->
// calibrate -> write the checkpoint (and the history picture).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>

#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/output_file.h"
#include "ebm/plots.h"
#include "ebm/progress.h"
#include "ebm/rng.h"
#include "ebm/settings.h"
#include "ebm/streams.h"

namespace ebm {

namespace {

nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

void validate(const TrainOptions& options) {
  if (options.targets.empty()) throw UsageError("at least one --target is required");
  validate(options.settings);
  validate(options.architecture);
  if (!options.valid_path.empty() && options.settings.valid_fraction > 0) {
    throw UsageError("--valid and --valid-fraction cannot be used together");
  }
  std::set<std::string> seen;
  for (const auto& t : options.targets) {
    if (!seen.insert(t).second) throw UsageError("target '" + t + "' is given twice");
  }
  for (const auto& f : options.features) {
    if (std::find(options.targets.begin(), options.targets.end(), f) != options.targets.end()) {
      throw UsageError("column '" + f + "' cannot be both a feature and a target");
    }
    if (!seen.insert(f).second) throw UsageError("feature '" + f + "' is given twice");
  }
  if (options.ensemble < 1) throw UsageError("--ensemble must be at least 1");
  if (options.first_member < 0) throw UsageError("--first-member must be >= 0");
  if (options.ensemble > 1 && (options.checkpoint_every > 0 || !options.resume_path.empty())) {
    throw UsageError("--checkpoint-every and --resume train one model: with --ensemble, train the members one at a "
                     "time (--first-member K) and combine them with --merge");
  }
}

// ----------------------------------------------------------------------- prepare data

// The training (and validation) rows in the model's standardised units.
struct TrainingData {
  std::vector<std::string> features, ignored_text_columns;
  Standardizer x_scaler, y_scaler;
  std::vector<double> y_min, y_max;  // range of each target over the training rows (user's units)
  std::vector<Lattice> y_lattice;    // per target (lattice.h)
  Matrix<float> x, y;              // x_dim x N, y_dim x N
  Matrix<float> x_valid, y_valid;  // 0 columns without validation rows
};

std::vector<std::size_t> column_indices(const Table& table, const std::vector<std::string>& names) {
  std::vector<std::size_t> out;
  for (const auto& name : names) {
    const std::size_t index = table.column_index(name);
    if (!table.numeric[index]) throw DataError(table.source + ": column '" + name + "' is not numeric");
    out.push_back(index);
  }
  return out;
}

Eigen::MatrixXd raw_block(const Table& table, const std::vector<std::size_t>& columns,
                          const std::vector<std::size_t>& rows) {
  Eigen::MatrixXd out(rows.size(), columns.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < columns.size(); ++j) out(r, j) = table.values(rows[r], columns[j]);
  }
  return out;
}

// The chosen columns of a table as a standardised (columns x rows) float matrix.
Matrix<float> standardised_block(const Table& table, const std::vector<std::size_t>& columns,
                                 const std::vector<std::size_t>& rows, const Standardizer& scaler) {
  Matrix<float> out(static_cast<Eigen::Index>(columns.size()), static_cast<Eigen::Index>(rows.size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < columns.size(); ++j) {
      out(j, r) = static_cast<float>(scaler.to_standard(static_cast<int>(j), table.values(rows[r], columns[j])));
    }
  }
  return out;
}

// The features given, or every numeric column that is not a target (text columns are noted).
void choose_features(const TrainOptions& options, const Table& table, TrainingData& data) {
  data.features = options.features;
  if (data.features.empty()) {
    for (std::size_t j = 0; j < table.columns.size(); ++j) {
      const std::string& name = table.columns[j];
      if (std::find(options.targets.begin(), options.targets.end(), name) != options.targets.end()) continue;
      (table.numeric[j] ? data.features : data.ignored_text_columns).push_back(name);
    }
  }
  if (data.features.empty()) {
    throw DataError(table.source + ": no feature columns (every column other than the targets is text or absent)");
  }
}

// Training and held-out rows of the table (sorted), by a seeded shuffle.
void split_rows(const TrainSettings& s, const Table& table, std::vector<std::size_t>& train_rows,
                std::vector<std::size_t>& valid_rows) {
  train_rows.resize(table.rows());
  std::iota(train_rows.begin(), train_rows.end(), 0);
  if (s.valid_fraction <= 0) return;
  Rng rng(s.seed ^ streams::kValidSplit, 0);
  for (std::size_t i = train_rows.size(); i-- > 1;) std::swap(train_rows[i], train_rows[rng.below(i + 1)]);
  // Early stopping and the temperature are chosen on these rows; on small data 10% is
  // too few to tell a calibrated model from an over-confident one (yacht: 28 rows gave
  // 75% coverage of 90% intervals), so the held-out set has at least valid_min_rows
  // rows, as long as that leaves three quarters of the data for training.
  std::size_t n_valid = static_cast<std::size_t>(std::llround(s.valid_fraction * table.rows()));
  n_valid = std::max(n_valid, std::min(static_cast<std::size_t>(std::max(s.valid_min_rows, 0)), table.rows() / 4));
  if (n_valid < 1 || n_valid >= table.rows()) {
    throw DataError(table.source + ": --valid-fraction " + format_number(s.valid_fraction) + " of " +
                    std::to_string(table.rows()) + " rows leaves no training or no validation rows");
  }
  valid_rows.assign(train_rows.end() - static_cast<std::ptrdiff_t>(n_valid), train_rows.end());
  train_rows.resize(train_rows.size() - n_valid);
  std::sort(train_rows.begin(), train_rows.end());
  std::sort(valid_rows.begin(), valid_rows.end());
}

// What is computed from the data must be finite, or the checkpoint could not be read back
// (a column whose values span more than a double can hold).
void check_finite_statistics(const TrainOptions& options, const TrainingData& data, const std::string& source) {
  const auto refuse = [&](const std::string& kind, const std::string& name) {
    throw DataError(source + ": " + kind + " column '" + name +
                    "': its values span more than a double can hold (mean, spread or range overflow)");
  };
  if (const int j = data.x_scaler.first_non_finite(); j >= 0) refuse("feature", data.features[j]);
  if (const int d = data.y_scaler.first_non_finite(); d >= 0) refuse("target", options.targets[d]);
  for (std::size_t d = 0; d < data.y_min.size(); ++d) {
    const double span = data.y_max[d] - data.y_min[d];
    if (!std::isfinite(data.y_min[d] - span) || !std::isfinite(data.y_max[d] + span)) {
      refuse("target", options.targets[d]);
    }
  }
}

// A constant target has no distribution to learn (its density is a spike): a clear error
// rather than a model of noise. A constant feature is merely useless: a warning.
void check_constant_columns(const Eigen::MatrixXd& targets_raw, const Eigen::MatrixXd& features_raw,
                            const TrainOptions& options, const TrainingData& data, const std::string& source) {
  for (Eigen::Index d = 0; d < targets_raw.cols(); ++d) {
    if (targets_raw.rows() > 1 && targets_raw.col(d).maxCoeff() == targets_raw.col(d).minCoeff()) {
      throw DataError(source + ": target column '" + options.targets[static_cast<std::size_t>(d)] +
                      "' is constant (" + format_number(targets_raw(0, d)) + " in all " +
                      std::to_string(targets_raw.rows()) + " training rows): there is no distribution to learn");
    }
  }
  if (options.log == nullptr || options.verbosity < 1) return;
  for (Eigen::Index j = 0; j < features_raw.cols(); ++j) {
    if (features_raw.rows() > 1 && features_raw.col(j).maxCoeff() == features_raw.col(j).minCoeff()) {
      *options.log << "ebm-train: warning: feature '" << data.features[static_cast<std::size_t>(j)]
                   << "' is constant in the training rows and carries no information\n";
    }
  }
}

// Validation rows: from --valid (standardised with the training statistics) or held out.
void load_validation(const TrainOptions& options, const Table& table, const std::vector<std::size_t>& valid_rows,
                     TrainingData& data) {
  data.x_valid.resize(data.x.rows(), 0);
  data.y_valid.resize(data.y.rows(), 0);
  if (!options.valid_path.empty()) {
    std::vector<std::string> needed = data.features;
    needed.insert(needed.end(), options.targets.begin(), options.targets.end());
    const Table valid = read_table(options.valid_path, options.csv, needed, true);
    std::vector<std::size_t> all(valid.rows());
    std::iota(all.begin(), all.end(), 0);
    data.x_valid = standardised_block(valid, column_indices(valid, data.features), all, data.x_scaler);
    data.y_valid = standardised_block(valid, column_indices(valid, options.targets), all, data.y_scaler);
  } else if (!valid_rows.empty()) {
    data.x_valid = standardised_block(table, column_indices(table, data.features), valid_rows, data.x_scaler);
    data.y_valid = standardised_block(table, column_indices(table, options.targets), valid_rows, data.y_scaler);
  }
}

TrainingData prepare_training_data(const TrainOptions& options) {
  std::vector<std::string> required = options.targets;
  required.insert(required.end(), options.features.begin(), options.features.end());
  // With explicit features, columns the model does not use are not even parsed.
  const Table table = read_table(options.data_path, options.csv, required, !options.features.empty());
  TrainingData data;
  choose_features(options, table, data);
  const std::vector<std::size_t> feature_columns = column_indices(table, data.features);
  const std::vector<std::size_t> target_columns = column_indices(table, options.targets);
  std::vector<std::size_t> train_rows, valid_rows;
  split_rows(options.settings, table, train_rows, valid_rows);
  const Eigen::MatrixXd features_raw = raw_block(table, feature_columns, train_rows);
  const Eigen::MatrixXd targets_raw = raw_block(table, target_columns, train_rows);
  data.x_scaler = Standardizer::fit(features_raw);
  data.y_scaler = Standardizer::fit(targets_raw);
  for (Eigen::Index d = 0; d < targets_raw.cols(); ++d) {
    data.y_min.push_back(targets_raw.col(d).minCoeff());
    data.y_max.push_back(targets_raw.col(d).maxCoeff());
    data.y_lattice.push_back(detect_lattice(targets_raw.col(d)));
  }
  check_finite_statistics(options, data, table.source);
  check_constant_columns(targets_raw, features_raw, options, data, table.source);
  data.x = standardised_block(table, feature_columns, train_rows, data.x_scaler);
  data.y = standardised_block(table, target_columns, train_rows, data.y_scaler);
  load_validation(options, table, valid_rows, data);
  return data;
}

// ------------------------------------------------------------------ describe the model

Checkpoint new_checkpoint(const TrainOptions& options, const TrainingData& data, int total_epochs) {
  Checkpoint c;
  c.features = data.features;
  c.targets = options.targets;
  c.x_scaler = data.x_scaler;
  c.y_scaler = data.y_scaler;
  set_support_from_range(c, data.y_min, data.y_max);
  c.y_lattice = data.y_lattice;
  c.architecture = options.architecture;
  c.architecture.x_dim = static_cast<int>(data.features.size());
  c.architecture.y_dim = static_cast<int>(options.targets.size());
  TrainingFacts facts;
  facts.data = options.data_path == "-" ? "<stdin>" : options.data_path;
  facts.rows = static_cast<std::size_t>(data.x.cols());
  facts.epochs = total_epochs;
  facts.valid_path = options.valid_path;
  facts.valid_rows = static_cast<std::size_t>(data.x_valid.cols());
  facts.config = options.config;
  c.training = training_record(options.settings, facts);
  return c;
}

void log_plan(const TrainOptions& options, const TrainingData& data, const EnergyModel& model) {
  if (options.log == nullptr || options.verbosity < 1) return;
  std::ostream& log = *options.log;
  log << "training on " << data.x.cols() << " rows";
  if (data.x_valid.cols() > 0) log << ", validating on " << data.x_valid.cols();
  log << "; features: " << join_names(data.features) << "; targets: " << join_names(options.targets) << "\n";
  if (!data.ignored_text_columns.empty()) log << "ignoring text columns: " << join_names(data.ignored_text_columns) << "\n";
  for (std::size_t d = 0; d < data.y_lattice.size(); ++d) {
    if (!data.y_lattice[d].discrete()) continue;
    log << "ebm-train: target '" << options.targets[d] << "' takes values on "
        << describe(data.y_lattice[d], data.y_max[d])
        << ": trained on dequantised values; ebm-predict --metrics reports the probability of the observed value\n";
  }
  log << "model: " << model.parameter_count() << " parameters, method " << objective_name(options.settings.objective)
      << ", noise " << noise_name(options.settings.noise) << ", " << options.settings.samples << " samples per example\n";
}

// How the model was calibrated on the validation rows (identity: not calibrated).
struct Calibration {
  double temperature = 1.0, proposal_scale = 1.0;
  // Validation NLL at T = 1 and at the fitted temperature, from one estimate (the same
  // rows and draws), so they compare like with like (standardised units).
  double nll_before = NAN, nll_after = NAN;
};

// The checkpoint's "results": the kept epoch's figures, the calibration and the history,
// NLLs in the user's units.
nlohmann::ordered_json results_record(const TrainingState& state, bool stopped_early, bool interrupted,
                                      const Calibration& calibration, double log_jacobian) {
  nlohmann::ordered_json results;
  results["epochs_run"] = state.history.size();
  results["best_epoch"] = state.best_epoch;
  results["stopped_early"] = stopped_early;
  results["interrupted"] = interrupted;
  for (const EpochRecord& kept : state.history) {
    if (kept.epoch != state.best_epoch) continue;
    results["train_loss"] = finite_or_null(kept.train_loss);
    results["train_proposal_nll"] = finite_or_null(kept.train_proposal_nll + log_jacobian);
    results["valid_nll"] = finite_or_null(kept.valid_nll + log_jacobian);
    results["valid_proposal_nll"] = finite_or_null(kept.valid_proposal_nll + log_jacobian);
  }
  results["temperature"] = calibration.temperature;
  results["proposal_scale"] = calibration.proposal_scale;
  results["valid_nll_calibrated"] = finite_or_null(calibration.nll_after + log_jacobian);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const EpochRecord& r : state.history) {
    rows.push_back({{"epoch", r.epoch},
                    {"train_loss", finite_or_null(r.train_loss)},
                    {"train_proposal_nll", finite_or_null(r.train_proposal_nll + log_jacobian)},
                    {"valid_nll", finite_or_null(r.valid_nll + log_jacobian)},
                    {"valid_proposal_nll", finite_or_null(r.valid_proposal_nll + log_jacobian)}});
  }
  results["history"] = rows;
  return results;
}

void write_checkpoint(OutputFile& file, const Checkpoint& checkpoint) {
  file.stream() << checkpoint_to_json(checkpoint).dump(1) << '\n';
}

// A resumable checkpoint of the training state so far (best epoch's weights, uncalibrated).
void write_snapshot(const TrainOptions& options, Checkpoint& checkpoint, const TrainingState& state, bool interrupted) {
  checkpoint.params = state.best_params;
  checkpoint.resume = state;
  checkpoint.results =
      results_record(state, false, interrupted, Calibration{}, checkpoint.y_scaler.log_jacobian());
  OutputFile snapshot(options.model_path);
  write_checkpoint(snapshot, checkpoint);
  snapshot.commit();
}

// ----------------------------------------------------------------------------- resume

// The state to continue from: the previous run must have had the same columns,
// architecture, data (normalisation statistics) and training settings.
TrainingState resume_state(const TrainOptions& options, const Checkpoint& checkpoint) {
  const std::string& path = options.resume_path;
  Checkpoint previous = load_checkpoint(path, /*with_resume_state=*/true);
  if (!previous.resume) {
    throw DataError(path + ": has no training state to resume from (write one with --checkpoint-every)");
  }
  if (previous.features != checkpoint.features || previous.targets != checkpoint.targets ||
      previous.architecture != checkpoint.architecture) {
    throw DataError(path + ": columns or architecture differ from this run's options");
  }
  if (previous.x_scaler.mean != checkpoint.x_scaler.mean || previous.x_scaler.scale != checkpoint.x_scaler.scale ||
      previous.y_scaler.mean != checkpoint.y_scaler.mean || previous.y_scaler.scale != checkpoint.y_scaler.scale) {
    throw DataError(path + ": was trained on different data (normalisation statistics differ); resume needs the "
                           "same data, options and seed");
  }
  // Everything that shapes the optimisation must match, or "resume" would silently be a
  // different run.
  const TrainSettings before = train_settings_from_record(previous.training, path);
  const std::string key = first_difference(before, options.settings);
  if (!key.empty()) {
    throw DataError(path + ": training option '" + key + "' differs from this run's (" +
                    previous.training[key].dump() + " vs " + checkpoint.training[key].dump() +
                    "); resume needs the same options");
  }
  return std::move(*previous.resume);
}

// ------------------------------------------------------------------------- calibrate

// The proposal's width first: the temperature is then fitted with the importance sampling
// estimates of the widened proposal, which are the ones predictions use. Both change
// `params` in place.
Calibration calibrate(const TrainOptions& options, const TrainSettings& s, const EnergyModel& model,
                      const TrainingData& data, ParamVector& params) {
  Calibration cal;
  const double log_jacobian = data.y_scaler.log_jacobian();
  std::ostream* log = options.verbosity >= 2 ? options.log : nullptr;
  double q_before = NAN, q_after = NAN;
  cal.proposal_scale = fit_proposal_scale(model, params, data.x_valid, data.y_valid, &q_before, &q_after);
  model.shift_proposal_log_variances(params.data(), static_cast<float>(2.0 * std::log(cal.proposal_scale)));
  if (log != nullptr) {
    *log << "calibration: proposal width x" << format_number(cal.proposal_scale, 4) << ", valid proposal NLL "
         << format_number(q_before + log_jacobian, 5) << " -> " << format_number(q_after + log_jacobian, 5) << "\n";
  }
  cal.temperature = fit_temperature(model, params, data.x_valid, data.y_valid, s.valid_samples,
                                    s.seed ^ streams::kTemperature, s.threads, &cal.nll_before, &cal.nll_after,
                                    s.support);
  model.scale_energy(params.data(), static_cast<float>(1.0 / cal.temperature));
  return cal;  // the temperature and its NLLs are in the summary (TrainProgress::summary)
}

// Keeps what was learnt by an interrupted run: the best (or last) complete epoch, with
// the state to resume from.
void save_interrupted(const TrainOptions& options, Checkpoint& checkpoint, const TrainResult& result) {
  if (options.progress_bar && options.log != nullptr) *options.log << "\r\033[K";
  if (result.state.epochs_done > 0) {
    write_snapshot(options, checkpoint, result.state, true);
    if (options.log != nullptr) {
      *options.log << "interrupted: wrote " << options.model_path << " after epoch " << result.state.epochs_done
                   << "; continue with --resume " << options.model_path << "\n";
    }
  } else if (options.log != nullptr) {
    *options.log << "interrupted before the first epoch completed; no checkpoint written\n";
  }
}

}  // namespace

namespace {

// One member's training and calibration: its parameters (calibration baked in) and results.
struct MemberOutcome {
  TrainResult result;
  ParamVector params;
  Calibration calibration;
  nlohmann::ordered_json results;
};

// Trains member `member` (0-based among those of this run) with settings `s` (its seed),
// calibrates it, and records its results. With a single member this is exactly the run of
// a single model, snapshots (--checkpoint-every) and --resume included.
MemberOutcome train_member(const TrainOptions& options, const TrainingData& data, const TrainSettings& s,
                           const EnergyModel& model, int total_epochs, int member, Checkpoint& checkpoint) {
  const bool single = options.ensemble == 1;
  std::optional<TrainingState> resume;
  if (!options.resume_path.empty()) {
    resume = resume_state(options, checkpoint);
    if (options.log != nullptr && options.verbosity >= 1) {
      *options.log << "resuming after epoch " << resume->epochs_done << " of " << total_epochs << "\n";
    }
  }
  if (!single && options.log != nullptr && options.verbosity >= 1) {
    *options.log << "ensemble member " << options.first_member + member + 1 << " (" << member + 1 << " of "
                 << options.ensemble << "), seed " << s.seed << "\n";
  }
  const double log_jacobian = data.y_scaler.log_jacobian();
  TrainProgress progress(options.log, options.verbosity, options.progress_bar, resume ? resume->epochs_done + 1 : 1,
                         total_epochs, log_jacobian);
  const auto on_epoch = [&](const EpochRecord& r, const TrainingState& state) {
    progress.epoch_done(r, state.best_epoch);
    if (single && options.checkpoint_every > 0 && r.epoch % options.checkpoint_every == 0) {
      write_snapshot(options, checkpoint, state, false);
    }
    return true;
  };
  const auto on_batch = [&](int batch, int batches) { progress.batch_done(batch, batches); };
  MemberOutcome outcome;
  outcome.result = train(model, data.x, data.y, data.x_valid, data.y_valid, s, on_epoch, on_batch,
                         resume ? &*resume : nullptr, options.interrupt);
  if (outcome.result.interrupted) return outcome;
  outcome.params = outcome.result.params;
  if (s.calibrate && data.x_valid.cols() > 0 && !outcome.result.history.empty()) {
    outcome.calibration = calibrate(options, s, model, data, outcome.params);
  }
  outcome.results = results_record(outcome.result.state, outcome.result.stopped_early, false, outcome.calibration,
                                   log_jacobian);
  if (s.seed != options.settings.seed) outcome.results["member_seed"] = s.seed;
  if (options.log != nullptr && options.verbosity >= 1) {
    progress.clear_bar();
    const Calibration& cal = outcome.calibration;
    progress.summary(outcome.result.state, outcome.result.stopped_early,
                     CalibrationSummary{cal.temperature, cal.proposal_scale, cal.nll_before, cal.nll_after});
  }
  return outcome;
}

}  // namespace

TrainSummary run_train(const TrainOptions& options) {
  validate(options);
  // --resume may name -m: continuing a run replaces its checkpoint with a later one.
  check_distinct_files({{"DATA", options.data_path}, {"--valid", options.valid_path}},
                       {{"-m", options.model_path}, {"--plot-history", options.plot_history_path}});
  // Open the outputs first: an unwritable path fails now, not after an hour of training.
  OutputFile model_file(options.model_path);
  std::optional<OutputFile> history_file;
  if (!options.plot_history_path.empty()) history_file.emplace(options.plot_history_path);

  const TrainingData data = prepare_training_data(options);
  TrainSummary summary;
  summary.ignored_text_columns = data.ignored_text_columns;
  summary.train_rows = static_cast<std::size_t>(data.x.cols());
  summary.valid_rows = static_cast<std::size_t>(data.x_valid.cols());
  const int total_epochs = resolve_epochs(options.settings, summary.train_rows);
  summary.checkpoint = new_checkpoint(options, data, total_epochs);
  Checkpoint& checkpoint = summary.checkpoint;
  TrainSettings s = options.settings;
  s.support = standardised_support(checkpoint);
  for (std::size_t d = 0; d < data.y_lattice.size(); ++d) {
    s.lattice_step.push_back(data.y_lattice[d].step / data.y_scaler.scale[d]);
  }
  const EnergyModel model(checkpoint.architecture);
  log_plan(options, data, model);

  for (int member = 0; member < options.ensemble; ++member) {
    TrainSettings member_settings = s;
    member_settings.seed = s.seed + static_cast<std::uint64_t>(options.first_member + member);
    MemberOutcome outcome = train_member(options, data, member_settings, model, total_epochs, member, checkpoint);
    if (outcome.result.interrupted) {
      summary.interrupted = true;
      // The first member keeps a single model's behaviour (a resumable snapshot); later
      // ones leave the members already complete.
      if (member == 0) {
        summary.result = std::move(outcome.result);
        save_interrupted(options, checkpoint, summary.result);
        return summary;
      }
      if (options.log != nullptr) *options.log << "\ninterrupted: keeping the " << member << " complete member(s)\n";
      break;
    }
    if (member == 0) {
      checkpoint.params = outcome.params;
      checkpoint.results = outcome.results;
      summary.result = std::move(outcome.result);
    } else {
      checkpoint.more_members.push_back({outcome.params, outcome.results});
    }
  }
  // With --checkpoint-every the final file keeps the training state, so training can be
  // extended later with --resume and a larger --epochs.
  if (options.checkpoint_every > 0) checkpoint.resume = summary.result.state;
  write_checkpoint(model_file, checkpoint);
  if (history_file) {  // of the first member
    history_file->stream() << history_plot_svg(summary.result.state.history, summary.result.state.best_epoch,
                                               data.y_scaler.log_jacobian(), objective_name(s.objective));
    history_file->finish();
  }
  model_file.commit();
  if (history_file) history_file->commit();
  if (options.log != nullptr && options.verbosity >= 1) *options.log << "wrote " << options.model_path << "\n";
  return summary;
}

Checkpoint run_merge(const std::vector<std::string>& input_paths, const std::string& output_path) {
  OutputFile out(output_path);  // an unwritable path fails before anything is read
  std::vector<Checkpoint> parts;
  for (const std::string& path : input_paths) parts.push_back(load_checkpoint(path));
  Checkpoint merged = merge_checkpoints(parts, input_paths);
  write_checkpoint(out, merged);
  out.commit();
  return merged;
}

}  // namespace ebm
