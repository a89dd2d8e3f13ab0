#include "ebm/commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/plots.h"
#include "ebm/proposal.h"
#include "ebm/rng.h"
#include "ebm/thread_pool.h"

namespace ebm {

namespace {

constexpr std::uint64_t kSplitStream = 0x3f84d5b5b5470917ULL;

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Copies the chosen columns of a table into a standardised (columns x rows) float matrix.
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

Eigen::MatrixXd raw_block(const Table& table, const std::vector<std::size_t>& columns,
                          const std::vector<std::size_t>& rows) {
  Eigen::MatrixXd out(rows.size(), columns.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < columns.size(); ++j) out(r, j) = table.values(rows[r], columns[j]);
  }
  return out;
}

std::vector<std::size_t> column_indices(const Table& table, const std::vector<std::string>& names) {
  std::vector<std::size_t> out;
  for (const auto& name : names) {
    const std::size_t index = table.column_index(name);
    if (!table.numeric[index]) {
      throw DataError(table.source + ": column '" + name + "' is not numeric");
    }
    out.push_back(index);
  }
  return out;
}

std::string level_name(double level) { return format_number(level); }

nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    double v = 0;
    if (!parse_number(item, v)) {
      throw UsageError(option + ": expected a comma-separated list of numbers, found '" + item + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError(option + ": expected at least one number");
  return out;
}

// ----------------------------------------------------------------------------- train

TrainSummary run_train(const TrainOptions& options) {
  if (options.targets.empty()) throw UsageError("at least one --target is required");
  if (options.valid_fraction < 0 || options.valid_fraction >= 1) {
    throw UsageError("--valid-fraction must be in [0, 1)");
  }
  if (!options.valid_path.empty() && options.valid_fraction > 0) {
    throw UsageError("--valid and --valid-fraction cannot be used together");
  }
  {
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
  }
  // Open the output first: an unwritable path fails now, not after an hour of training.
  OutputFile model_file(options.model_path);
  std::optional<OutputFile> history_file;
  if (!options.plot_history_path.empty()) history_file.emplace(options.plot_history_path);
  std::ostream* log = options.log;

  std::vector<std::string> required = options.targets;
  required.insert(required.end(), options.features.begin(), options.features.end());
  // With explicit features, columns the model does not use are not even parsed.
  const Table table = read_table(options.data_path, options.csv, required, !options.features.empty());

  TrainSummary summary;
  std::vector<std::string> features = options.features;
  if (features.empty()) {
    for (std::size_t j = 0; j < table.columns.size(); ++j) {
      const std::string& name = table.columns[j];
      if (std::find(options.targets.begin(), options.targets.end(), name) != options.targets.end()) continue;
      if (table.numeric[j]) {
        features.push_back(name);
      } else {
        summary.ignored_text_columns.push_back(name);
      }
    }
  }
  if (features.empty()) {
    throw DataError(table.source + ": no feature columns (every column other than the targets is text or absent)");
  }
  const std::vector<std::size_t> feature_columns = column_indices(table, features);
  const std::vector<std::size_t> target_columns = column_indices(table, options.targets);

  std::vector<std::size_t> train_rows(table.rows()), valid_rows;
  std::iota(train_rows.begin(), train_rows.end(), 0);
  if (options.valid_fraction > 0) {
    Rng rng(options.settings.seed ^ kSplitStream, 0);
    for (std::size_t i = train_rows.size(); i-- > 1;) std::swap(train_rows[i], train_rows[rng.below(i + 1)]);
    // Early stopping and the temperature are chosen on these rows; on small data 10% is
    // too few to tell a calibrated model from an over-confident one (yacht: 28 rows gave
    // 75% coverage of 90% intervals), so the held-out set has at least valid_min_rows
    // rows, as long as that leaves three quarters of the data for training.
    std::size_t n_valid = static_cast<std::size_t>(std::llround(options.valid_fraction * table.rows()));
    n_valid = std::max(n_valid, std::min(static_cast<std::size_t>(std::max(options.valid_min_rows, 0)), table.rows() / 4));
    if (n_valid < 1 || n_valid >= table.rows()) {
      throw DataError(table.source + ": --valid-fraction " + format_number(options.valid_fraction) + " of " +
                      std::to_string(table.rows()) + " rows leaves no training or no validation rows");
    }
    valid_rows.assign(train_rows.end() - static_cast<std::ptrdiff_t>(n_valid), train_rows.end());
    train_rows.resize(train_rows.size() - n_valid);
    std::sort(train_rows.begin(), train_rows.end());
    std::sort(valid_rows.begin(), valid_rows.end());
  }

  Checkpoint& checkpoint = summary.checkpoint;
  checkpoint.features = features;
  checkpoint.targets = options.targets;
  checkpoint.x_scaler = Standardizer::fit(raw_block(table, feature_columns, train_rows));
  checkpoint.y_scaler = Standardizer::fit(raw_block(table, target_columns, train_rows));
  // A constant target has no distribution to learn (its density is a spike): a clear error
  // rather than a model of noise. A constant feature is merely useless: a warning.
  {
    const Eigen::MatrixXd targets_raw = raw_block(table, target_columns, train_rows);
    for (Eigen::Index d = 0; d < targets_raw.cols(); ++d) {
      if (targets_raw.rows() > 1 && targets_raw.col(d).maxCoeff() == targets_raw.col(d).minCoeff()) {
        throw DataError(table.source + ": target column '" + options.targets[static_cast<std::size_t>(d)] +
                        "' is constant (" + format_number(targets_raw(0, d)) + " in all " +
                        std::to_string(targets_raw.rows()) + " training rows): there is no distribution to learn");
      }
    }
    const Eigen::MatrixXd features_raw = raw_block(table, feature_columns, train_rows);
    for (Eigen::Index j = 0; j < features_raw.cols(); ++j) {
      if (log != nullptr && options.verbosity >= 1 && features_raw.rows() > 1 &&
          features_raw.col(j).maxCoeff() == features_raw.col(j).minCoeff()) {
        *log << "ebm-train: warning: feature '" << features[static_cast<std::size_t>(j)]
             << "' is constant in the training rows and carries no information\n";
      }
    }
  }
  const Matrix<float> x = standardised_block(table, feature_columns, train_rows, checkpoint.x_scaler);
  const Matrix<float> y = standardised_block(table, target_columns, train_rows, checkpoint.y_scaler);
  Matrix<float> x_valid(x.rows(), 0), y_valid(y.rows(), 0);
  if (!options.valid_path.empty()) {
    std::vector<std::string> needed = features;
    needed.insert(needed.end(), options.targets.begin(), options.targets.end());
    const Table valid = read_table(options.valid_path, options.csv, needed, true);
    std::vector<std::size_t> all(valid.rows());
    std::iota(all.begin(), all.end(), 0);
    x_valid = standardised_block(valid, column_indices(valid, features), all, checkpoint.x_scaler);
    y_valid = standardised_block(valid, column_indices(valid, options.targets), all, checkpoint.y_scaler);
  } else if (!valid_rows.empty()) {
    x_valid = standardised_block(table, feature_columns, valid_rows, checkpoint.x_scaler);
    y_valid = standardised_block(table, target_columns, valid_rows, checkpoint.y_scaler);
  }
  summary.train_rows = train_rows.size();
  summary.valid_rows = static_cast<std::size_t>(x_valid.cols());

  Architecture arch = options.architecture;
  arch.x_dim = static_cast<int>(features.size());
  arch.y_dim = static_cast<int>(options.targets.size());
  checkpoint.architecture = arch;
  const EnergyModel model(arch);
  const double log_jacobian = checkpoint.y_scaler.log_jacobian();

  if (log != nullptr && options.verbosity >= 1) {
    *log << "training on " << summary.train_rows << " rows";
    if (summary.valid_rows > 0) *log << ", validating on " << summary.valid_rows;
    *log << "; features: " << join_names(features) << "; targets: " << join_names(options.targets) << "\n";
    if (!summary.ignored_text_columns.empty()) {
      *log << "ignoring text columns: " << join_names(summary.ignored_text_columns) << "\n";
    }
    *log << "model: " << model.parameter_count() << " parameters, method "
         << objective_name(options.settings.objective) << ", noise " << noise_name(options.settings.noise)
         << ", " << options.settings.samples << " samples per example\n";
  }

  const int total_epochs = resolve_epochs(options.settings, summary.train_rows);
  const TrainSettings& s = options.settings;
  nlohmann::ordered_json training;
  training["data"] = options.data_path == "-" ? "<stdin>" : options.data_path;
  training["rows"] = summary.train_rows;
  training["method"] = objective_name(s.objective);
  training["noise"] = noise_name(s.noise);
  training["gmm_sigmas"] = s.gmm_sigmas;
  training["nce_plus_beta"] = s.nce_plus_beta;
  training["epochs"] = total_epochs;
  training["epochs_option"] = s.epochs == 0 ? nlohmann::ordered_json("auto") : nlohmann::ordered_json(s.epochs);
  training["batch_size"] = s.batch_size;
  training["samples"] = s.samples;
  training["learning_rate"] = s.learning_rate;
  training["weight_decay"] = s.weight_decay;
  training["schedule"] = s.cosine_schedule ? "cosine" : "constant";
  training["seed"] = s.seed;
  training["early_stopping"] = s.early_stopping;
  training["valid"] = options.valid_path;
  training["valid_fraction"] = options.valid_fraction;
  training["valid_min_rows"] = options.valid_min_rows;
  training["valid_rows"] = summary.valid_rows;
  training["valid_samples"] = s.valid_samples;
  training["calibrate"] = options.calibrate;
  if (!options.config.empty()) training["config"] = options.config;
  checkpoint.training = training;

  // Fills checkpoint.results from a training state; `temperature` 1 means uncalibrated.
  auto describe = [&](const TrainingState& state, bool stopped_early, bool interrupted, double temperature,
                      double calibrated_nll, double proposal_scale = 1.0) {
    nlohmann::ordered_json results;
    const auto& history = state.history;
    results["epochs_run"] = history.size();
    results["best_epoch"] = state.best_epoch;
    results["stopped_early"] = stopped_early;
    results["interrupted"] = interrupted;
    for (const EpochRecord& kept : history) {
      if (kept.epoch != state.best_epoch) continue;
      results["train_loss"] = finite_or_null(kept.train_loss);
      results["train_proposal_nll"] = finite_or_null(kept.train_proposal_nll + log_jacobian);
      results["valid_nll"] = finite_or_null(kept.valid_nll + log_jacobian);
      results["valid_proposal_nll"] = finite_or_null(kept.valid_proposal_nll + log_jacobian);
    }
    results["temperature"] = temperature;
    results["proposal_scale"] = proposal_scale;
    results["valid_nll_calibrated"] = finite_or_null(calibrated_nll + log_jacobian);
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const EpochRecord& r : history) {
      rows.push_back({{"epoch", r.epoch},
                      {"train_loss", finite_or_null(r.train_loss)},
                      {"train_proposal_nll", finite_or_null(r.train_proposal_nll + log_jacobian)},
                      {"valid_nll", finite_or_null(r.valid_nll + log_jacobian)},
                      {"valid_proposal_nll", finite_or_null(r.valid_proposal_nll + log_jacobian)}});
    }
    results["history"] = rows;
    checkpoint.results = results;
  };

  std::optional<TrainingState> resume;
  if (!options.resume_path.empty()) {
    Checkpoint previous = load_checkpoint(options.resume_path, /*with_resume_state=*/true);
    if (!previous.resume) {
      throw DataError(options.resume_path +
                      ": has no training state to resume from (write one with --checkpoint-every)");
    }
    const Architecture& pa = previous.architecture;
    if (previous.features != features || previous.targets != options.targets || pa.x_dim != arch.x_dim ||
        pa.y_dim != arch.y_dim || pa.hidden != arch.hidden || pa.x_layers != arch.x_layers ||
        pa.y_layers != arch.y_layers || pa.residual_blocks != arch.residual_blocks ||
        pa.components != arch.components || pa.activation != arch.activation) {
      throw DataError(options.resume_path + ": columns or architecture differ from this run's options");
    }
    if (previous.x_scaler.mean != checkpoint.x_scaler.mean || previous.x_scaler.scale != checkpoint.x_scaler.scale ||
        previous.y_scaler.mean != checkpoint.y_scaler.mean || previous.y_scaler.scale != checkpoint.y_scaler.scale) {
      throw DataError(options.resume_path +
                      ": was trained on different data (normalisation statistics differ); resume needs the same "
                      "data, options and seed");
    }
    // Everything that shapes the optimisation must match, or "resume" would silently be a
    // different run.
    for (const char* key : {"method", "noise", "gmm_sigmas", "nce_plus_beta", "epochs", "batch_size", "samples",
                            "learning_rate", "weight_decay", "schedule", "seed", "early_stopping", "valid_fraction",
                            "valid_min_rows", "valid_samples"}) {
      if (!previous.training.contains(key) || previous.training[key] != training[key]) {
        throw DataError(options.resume_path + ": training option '" + key + "' differs from this run's (" +
                        (previous.training.contains(key) ? previous.training[key].dump() : std::string("missing")) +
                        " vs " + training[key].dump() + "); resume needs the same options");
      }
    }
    resume = std::move(*previous.resume);
    if (log != nullptr && options.verbosity >= 1) {
      *log << "resuming after epoch " << resume->epochs_done << " of " << total_epochs << "\n";
    }
  }

  auto write_snapshot = [&](const TrainingState& state, bool interrupted) {
    checkpoint.params = state.best_params;
    checkpoint.resume = state;
    describe(state, false, interrupted, 1.0, NAN);
    OutputFile snapshot(options.model_path);
    snapshot.stream() << checkpoint_to_json(checkpoint).dump(1) << '\n';
    snapshot.commit();
  };

  const auto train_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count(); };
  const int first_epoch = resume ? resume->epochs_done + 1 : 1;
  std::string last_figures;  // loss / validation NLL of the last epoch, for the progress bar
  auto on_epoch = [&](const EpochRecord& r, const TrainingState& state) {
    std::ostringstream figures;
    figures << std::fixed << std::setprecision(4) << "loss " << r.train_loss;
    if (std::isfinite(r.valid_nll)) figures << "  valid_nll " << r.valid_nll + log_jacobian;
    last_figures = figures.str();
    if (log != nullptr && options.verbosity >= 2) {
      if (options.progress_bar) *log << "\r\033[K";
      std::ostringstream line;
      line << "epoch " << std::setw(3) << r.epoch << "/" << total_epochs << std::fixed << std::setprecision(4)
           << "  loss " << r.train_loss << "  proposal_nll " << r.train_proposal_nll + log_jacobian;
      if (std::isfinite(r.valid_nll)) {
        line << "  valid_nll " << r.valid_nll + log_jacobian << "  valid_proposal_nll "
             << r.valid_proposal_nll + log_jacobian;
      }
      line << std::setprecision(2) << "  " << r.seconds << "s";
      if (r.epoch == state.best_epoch && std::isfinite(r.valid_nll)) line << "  *";
      *log << line.str() << "\n" << std::flush;
    }
    if (options.checkpoint_every > 0 && r.epoch % options.checkpoint_every == 0) write_snapshot(state, false);
    return true;
  };
  BatchCallback on_batch = nullptr;
  int current_epoch = first_epoch;
  if (options.progress_bar && log != nullptr && options.verbosity >= 1) {
    const int total_batches_per_epoch = static_cast<int>((summary.train_rows + s.batch_size - 1) / s.batch_size);
    on_batch = [&, total_batches_per_epoch](int batch, int batches) {
      if (batch != batches && batch % 4 != 0) return;
      const int width = 24;
      const double done = (current_epoch - first_epoch) + static_cast<double>(batch) / batches;
      const double left = total_epochs - first_epoch + 1 - done;
      const double eta = done > 0 ? elapsed() / done * left : 0;
      const int filled = static_cast<int>(width * static_cast<double>(batch) / batches);
      *log << "\r\033[Kepoch " << current_epoch << "/" << total_epochs << " [" << std::string(filled, '#')
           << std::string(width - filled, '.') << "] " << last_figures << "  ~" << static_cast<long>(eta + 0.5)
           << "s left" << std::flush;
      if (batch == batches) ++current_epoch;
      (void)total_batches_per_epoch;
    };
  }
  summary.result = train(model, x, y, x_valid, y_valid, options.settings, on_epoch, on_batch,
                         resume ? &*resume : nullptr, options.interrupt);
  summary.interrupted = summary.result.interrupted;
  if (summary.interrupted) {
    // Keep what was learnt: the best (or last) complete epoch, with the state to resume.
    if (options.progress_bar && log != nullptr) *log << "\r\033[K";
    if (summary.result.state.epochs_done > 0) {
      write_snapshot(summary.result.state, true);
      if (log != nullptr) {
        *log << "interrupted: wrote " << options.model_path << " after epoch " << summary.result.state.epochs_done
             << "; continue with --resume " << options.model_path << "\n";
      }
    } else if (log != nullptr) {
      *log << "interrupted before the first epoch completed; no checkpoint written\n";
    }
    return summary;
  }

  checkpoint.params = summary.result.params;
  double temperature = 1.0, nll_before = NAN, nll_after = NAN, proposal_scale = 1.0;
  if (options.calibrate && x_valid.cols() > 0 && !summary.result.history.empty()) {
    // The proposal's width first: the temperature is then fitted with the importance
    // sampling estimates of the widened proposal, which are the ones predictions use.
    double q_before = NAN, q_after = NAN;
    proposal_scale = fit_proposal_scale(model, checkpoint.params, x_valid, y_valid, &q_before, &q_after);
    model.shift_proposal_log_variances(checkpoint.params.data(), static_cast<float>(2.0 * std::log(proposal_scale)));
    if (log != nullptr && options.verbosity >= 2) {
      *log << "calibration: proposal width x" << format_number(proposal_scale, 4) << ", validation proposal NLL "
           << format_number(q_before + log_jacobian, 5) << " -> " << format_number(q_after + log_jacobian, 5) << "\n";
    }
    temperature = fit_temperature(model, checkpoint.params, x_valid, y_valid, options.settings.valid_samples,
                                  options.settings.seed ^ 0x9e3779b97f4a7c15ULL, options.settings.threads, &nll_before,
                                  &nll_after);
    model.scale_energy(checkpoint.params.data(), static_cast<float>(1.0 / temperature));
    if (log != nullptr && options.verbosity >= 2) {
      *log << "calibration: temperature " << format_number(temperature, 4) << ", validation NLL "
           << format_number(nll_before + log_jacobian, 5) << " -> " << format_number(nll_after + log_jacobian, 5)
           << "\n";
    }
  }
  // With --checkpoint-every the final file keeps the training state, so training can be
  // extended later with --resume and a larger --epochs.
  if (options.checkpoint_every > 0) checkpoint.resume = summary.result.state;
  describe(summary.result.state, summary.result.stopped_early, false, temperature, nll_after, proposal_scale);
  model_file.stream() << checkpoint_to_json(checkpoint).dump(1) << '\n';
  if (history_file) {
    history_file->stream() << history_plot_svg(summary.result.state.history, summary.result.state.best_epoch,
                                               log_jacobian, objective_name(options.settings.objective));
    history_file->finish();
  }
  model_file.commit();
  if (history_file) history_file->commit();
  if (log != nullptr && options.verbosity >= 1) {
    if (options.progress_bar) *log << "\r\033[K";
    const TrainingState& st = summary.result.state;
    std::ostringstream line;
    line << "trained " << st.history.size() << " epochs in " << std::fixed << std::setprecision(1) << elapsed()
         << "s" << (summary.result.stopped_early ? " (early stop)" : "") << "; best epoch " << st.best_epoch;
    for (const EpochRecord& r : st.history) {
      if (r.epoch != st.best_epoch) continue;
      line << std::setprecision(4) << ": train loss " << r.train_loss << ", train proposal NLL "
           << r.train_proposal_nll + log_jacobian;
      if (std::isfinite(r.valid_nll)) line << ", valid NLL " << r.valid_nll + log_jacobian;
    }
    if (std::isfinite(nll_after)) {
      line << ", calibrated " << nll_after + log_jacobian << " (T = " << std::setprecision(3) << temperature << ")";
    }
    *log << line.str() << "\nwrote " << options.model_path << "\n";
  }
  return summary;
}

// ---------------------------------------------------------------------------- shared

namespace {

struct InputColumns {
  std::vector<std::size_t> features, targets, keep;
  bool has_targets = false;
};

InputColumns resolve_columns(const CsvReader& reader, const Checkpoint& c, const std::vector<std::string>& keep,
                             bool targets_required, const std::string& why) {
  InputColumns cols;
  for (const auto& name : c.features) cols.features.push_back(reader.column_index(name));
  std::vector<std::string> missing;
  for (const auto& name : c.targets) {
    const auto& all = reader.columns();
    const auto it = std::find(all.begin(), all.end(), name);
    if (it == all.end()) {
      missing.push_back(name);
    } else {
      cols.targets.push_back(static_cast<std::size_t>(it - all.begin()));
    }
  }
  cols.has_targets = missing.empty();
  if (!cols.has_targets && targets_required) {
    throw DataError(reader.source() + ": " + why + " needs the target column '" + missing.front() +
                    "', which is not in the input (columns: " + join_names(reader.columns()) + ")");
  }
  for (const auto& name : keep) cols.keep.push_back(reader.column_index(name));
  return cols;
}

// One chunk of input rows.
struct InputChunk {
  std::size_t first_row = 0;
  Matrix<float> x_std;                       // x_dim x R
  Eigen::MatrixXd y;                         // y_dim x R, original units (if has_targets)
  std::vector<std::vector<std::string>> kept;  // R x keep
  std::vector<std::uint64_t> streams;        // R: random stream of each row (from its features)
  int rows() const { return static_cast<int>(x_std.cols()); }
};

bool read_chunk(CsvReader& reader, const Checkpoint& c, const InputColumns& cols, int max_rows,
                std::size_t first_row, InputChunk& chunk) {
  std::vector<ParamVector> xs;
  std::vector<std::vector<double>> ys;
  chunk.kept.clear();
  chunk.streams.clear();
  chunk.first_row = first_row;
  std::vector<double> raw(cols.features.size());
  while (static_cast<int>(xs.size()) < max_rows && reader.next()) {
    ParamVector xr(cols.features.size());
    for (std::size_t j = 0; j < cols.features.size(); ++j) {
      raw[j] = reader.number(cols.features[j]);
      xr[j] = static_cast<float>(c.x_scaler.to_standard(static_cast<int>(j), raw[j]));
    }
    chunk.streams.push_back(row_stream(raw.data(), static_cast<int>(raw.size())));
    xs.push_back(std::move(xr));
    if (cols.has_targets) {
      std::vector<double> yr(cols.targets.size());
      for (std::size_t j = 0; j < cols.targets.size(); ++j) yr[j] = reader.number(cols.targets[j]);
      ys.push_back(std::move(yr));
    }
    std::vector<std::string> kept;
    for (std::size_t k : cols.keep) kept.emplace_back(reader.cell(k));
    chunk.kept.push_back(std::move(kept));
  }
  const Eigen::Index n = static_cast<Eigen::Index>(xs.size());
  chunk.x_std.resize(static_cast<Eigen::Index>(cols.features.size()), n);
  for (Eigen::Index r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < cols.features.size(); ++j) chunk.x_std(j, r) = xs[r][j];
  }
  if (cols.has_targets) {
    chunk.y.resize(static_cast<Eigen::Index>(cols.targets.size()), n);
    for (Eigen::Index r = 0; r < n; ++r) {
      for (std::size_t j = 0; j < cols.targets.size(); ++j) chunk.y(j, r) = ys[r][j];
    }
  }
  return n > 0;
}

void check_threads(int threads) {
  if (threads < 1) throw UsageError("--threads must be at least 1");
}

}  // namespace

// --------------------------------------------------------------------------- predict

namespace {

// "12,345 rows, 48,000 rows/s" on a terminal, redrawn at most four times a second and
// cleared at the end, so that a long prediction shows it is alive.
class RowProgress {
 public:
  explicit RowProgress(std::ostream* out) : out_(out), start_(std::chrono::steady_clock::now()), last_(start_) {}
  ~RowProgress() {
    if (out_ != nullptr && drawn_) *out_ << "\r\033[K" << std::flush;
  }
  void update(std::size_t rows) {
    if (out_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    *out_ << "\r\033[K" << rows << " rows, " << static_cast<long>(static_cast<double>(rows) / std::max(seconds, 1e-9))
          << " rows/s" << std::flush;
    drawn_ = true;
  }

 private:
  std::ostream* out_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

}  // namespace

double pit_coverage(const std::vector<long>& counts, double level) {
  const int bins = static_cast<int>(counts.size());
  const int first = static_cast<int>(std::lround(0.5 * (1 - level) * bins));
  const int last = static_cast<int>(std::lround(0.5 * (1 + level) * bins));  // exclusive
  long inside = 0, total = 0;
  for (int b = 0; b < bins; ++b) {
    total += counts[static_cast<std::size_t>(b)];
    if (b >= first && b < last) inside += counts[static_cast<std::size_t>(b)];
  }
  return total > 0 ? static_cast<double>(inside) / static_cast<double>(total) : 0.0;
}

std::vector<double> pit_histogram(const std::vector<long>& counts, int bins) {
  const int fine = static_cast<int>(counts.size());
  std::vector<double> out(static_cast<std::size_t>(bins), 0.0);
  long total = 0;
  for (int b = 0; b < fine; ++b) {
    out[static_cast<std::size_t>(static_cast<long>(b) * bins / fine)] += static_cast<double>(counts[static_cast<std::size_t>(b)]);
    total += counts[static_cast<std::size_t>(b)];
  }
  if (total > 0) {
    for (double& v : out) v /= static_cast<double>(total);
  }
  return out;
}

PredictSummary run_predict(const PredictOptions& o) {
  if (o.samples < 2) throw UsageError("--samples must be at least 2");
  if (o.interval && !(*o.interval > 0 && *o.interval < 1)) throw UsageError("--interval must be in (0, 1)");
  for (double q : o.quantiles) {
    if (!(q > 0 && q < 1)) throw UsageError("--quantiles: each level must be in (0, 1), found " + format_number(q));
  }
  if (o.mode_steps < 0) throw UsageError("--mode-steps must be >= 0");
  check_threads(o.threads);
  const Checkpoint c = load_checkpoint(o.model_path);
  const EnergyModel model(c.architecture);
  const bool want_plot = !o.plot_path.empty(), want_report = !o.report_path.empty();
  if (want_plot && (c.architecture.x_dim != 1 || c.architecture.y_dim != 1)) {
    throw UsageError("--plot needs a model with one feature and one target; " + o.model_path + " has " +
                     std::to_string(c.architecture.x_dim) + " feature(s) and " +
                     std::to_string(c.architecture.y_dim) + " target(s)");
  }
  CsvReader reader(o.data_path, o.csv);
  const bool want_metrics = !o.metrics_path.empty();
  InputColumns cols = resolve_columns(reader, c, o.keep, want_metrics || o.logpdf || want_report,
                                      want_metrics ? "--metrics" : want_report ? "--report" : "--logpdf");
  // Target cells are read only when something uses them: a blank target column in a file
  // to be predicted is normal. (--plot draws the observed points when they are there.)
  cols.has_targets = cols.has_targets && (want_metrics || o.logpdf || o.evaluate || want_plot || want_report);
  std::optional<OutputFile> metrics_file, plot_file, report_file;
  if (want_metrics) metrics_file.emplace(o.metrics_path);
  if (want_plot) plot_file.emplace(o.plot_path);
  if (want_report) report_file.emplace(o.report_path);
  // For --plot: the range of x, and up to kPlotPoints observed points kept by reservoir
  // sampling with a fixed generator (the same input gives the same picture).
  constexpr std::size_t kPlotPoints = 2000;
  double plot_x_lo = std::numeric_limits<double>::infinity(), plot_x_hi = -plot_x_lo;
  std::vector<std::pair<double, double>> plot_points;
  Rng plot_rng(o.seed, 0x706c6f74);
  OutputFile out(o.output_path);
  CsvWriter writer(out.stream(), o.output_csv, o.precision);

  const int dy = c.architecture.y_dim;
  const double coverage_level = o.interval.value_or(o.metrics_interval);
  // Output layout per row: kept columns, then per target mean, std, [lo, hi], [q...], [mode],
  // then [log_density], [ess].
  std::vector<std::string> header(o.keep.begin(), o.keep.end());
  for (const auto& t : c.targets) {
    header.push_back(t + "_mean");
    header.push_back(t + "_std");
    if (o.interval) {
      header.push_back(t + "_lo");
      header.push_back(t + "_hi");
    }
    for (double q : o.quantiles) header.push_back(t + "_q" + level_name(q));
    if (o.mode) header.push_back(t + "_mode");
  }
  if (o.logpdf) header.push_back("log_density");
  if (o.ess) header.push_back("ess");
  // The header goes out with the first chunk (or at the end for an input without rows), so
  // an input that fails in its first chunk leaves standard output empty.
  bool header_written = false;
  const auto write_header = [&] {
    if (!header_written) writer.write_row(header);
    header_written = true;
  };
  const int per_target = 2 + (o.interval ? 2 : 0) + static_cast<int>(o.quantiles.size()) + (o.mode ? 1 : 0);
  const int value_columns = dy * per_target + (o.logpdf ? 1 : 0) + (o.ess ? 1 : 0);
  const double log_jacobian = c.y_scaler.log_jacobian();
  // PIT values are counted in 200 fine bins per target: the 10-bin histogram and the
  // coverage of central intervals at levels that are multiples of 0.05 are exact sums of
  // them (the interval of level a holds y iff its PIT u satisfies |u - 1/2| <= a/2).
  constexpr int kPitBins = kPitFineBins;

  // Metric sums (combined in row order, so the result does not depend on threads).
  struct Sums {
    double nll = 0, ess = 0;
    std::vector<double> sq, abs, crps, covered;
    std::vector<long> pit;
    explicit Sums(int dy = 0) : sq(dy), abs(dy), crps(dy), covered(dy), pit(static_cast<std::size_t>(kPitBins) * dy) {}
  };
  Sums total(dy);

  ThreadPool pool(o.threads);
  const int rows_per_task = std::max(1, 16384 / o.samples);
  std::size_t rows_done = 0;
  RowProgress progress(o.progress);
  InputChunk chunk;
  while (read_chunk(reader, c, cols, o.chunk_rows, rows_done, chunk)) {
    const int n = chunk.rows();
    Eigen::MatrixXd values(value_columns, n);
    const int tasks = (n + rows_per_task - 1) / rows_per_task;
    std::vector<Sums> task_sums(tasks, Sums(dy));
    pool.run(static_cast<std::size_t>(tasks), [&](std::size_t t) {
      const int begin = static_cast<int>(t) * rows_per_task;
      const int count = std::min(rows_per_task, n - begin);
      const Matrix<float> xs = chunk.x_std.middleCols(begin, count);
      const std::vector<std::uint64_t> streams(chunk.streams.begin() + begin, chunk.streams.begin() + begin + count);
      const ImportanceSample is = importance_sample(model, c.params, xs, o.samples, o.seed,
                                                    chunk.first_row + static_cast<std::size_t>(begin), &streams);
      Matrix<float> modes;
      if (o.mode) modes = find_modes(model, c.params, is, o.mode_steps, 0.1);
      std::vector<double> lp;
      Matrix<float> y_std;
      if (cols.has_targets) {
        y_std.resize(dy, count);
        for (int e = 0; e < count; ++e) {
          for (int d = 0; d < dy; ++d) y_std(d, e) = static_cast<float>(c.y_scaler.to_standard(d, chunk.y(d, begin + e)));
        }
        lp = log_density(model, c.params, is, y_std);
      }
      Sums& sums = task_sums[t];
      for (int e = 0; e < count; ++e) {
        auto column = values.col(begin + e);
        int k = 0;
        for (int d = 0; d < dy; ++d) {
          const double scale = c.y_scaler.scale[d];
          double mean = 0;
          for (int m = 0; m < o.samples; ++m) mean += is.weights(m, e) * is.y(d, static_cast<Eigen::Index>(e) * o.samples + m);
          double var = 0;
          for (int m = 0; m < o.samples; ++m) {
            const double diff = is.y(d, static_cast<Eigen::Index>(e) * o.samples + m) - mean;
            var += is.weights(m, e) * diff * diff;
          }
          const double mean_orig = c.y_scaler.to_original(d, mean);
          column(k++) = mean_orig;
          column(k++) = std::sqrt(var) * scale;
          double lo = 0, hi = 0;
          SortedDraws draws;
          if (o.interval || cols.has_targets || !o.quantiles.empty()) draws = sort_draws(is, e, d);
          if (o.interval || cols.has_targets) {
            lo = c.y_scaler.to_original(d, weighted_quantile(draws, 0.5 * (1 - coverage_level)));
            hi = c.y_scaler.to_original(d, weighted_quantile(draws, 0.5 * (1 + coverage_level)));
          }
          if (o.interval) {
            column(k++) = lo;
            column(k++) = hi;
          }
          for (double q : o.quantiles) column(k++) = c.y_scaler.to_original(d, weighted_quantile(draws, q));
          if (o.mode) column(k++) = c.y_scaler.to_original(d, modes(d, e));
          if (cols.has_targets) {
            const double observed = chunk.y(d, begin + e);
            const double err = mean_orig - observed;
            sums.sq[d] += err * err;
            sums.abs[d] += std::abs(err);
            sums.crps[d] += weighted_crps(draws, c.y_scaler.to_standard(d, observed)) * scale;
            sums.covered[d] += (observed >= lo && observed <= hi) ? 1.0 : 0.0;
            const double pit = weighted_pit(draws, c.y_scaler.to_standard(d, observed));
            const int bin = std::min(kPitBins - 1, static_cast<int>(pit * kPitBins));
            sums.pit[static_cast<std::size_t>(d) * kPitBins + bin] += 1;
          }
        }
        if (cols.has_targets) sums.nll -= lp[e] - log_jacobian;
        sums.ess += is.ess[e];
        if (o.logpdf) column(k++) = lp[e] - log_jacobian;
        if (o.ess) column(k++) = is.ess[e];
      }
    });
    for (const Sums& s : task_sums) {
      total.nll += s.nll;
      total.ess += s.ess;
      for (int d = 0; d < dy; ++d) {
        total.sq[d] += s.sq[d];
        total.abs[d] += s.abs[d];
        total.crps[d] += s.crps[d];
        total.covered[d] += s.covered[d];
      }
      for (std::size_t b = 0; b < s.pit.size(); ++b) total.pit[b] += s.pit[b];
    }
    if (want_plot) {
      for (int r = 0; r < n; ++r) {
        const double x = c.x_scaler.to_original(0, chunk.x_std(0, r));
        plot_x_lo = std::min(plot_x_lo, x);
        plot_x_hi = std::max(plot_x_hi, x);
        if (!cols.has_targets) continue;
        const std::size_t seen = rows_done + static_cast<std::size_t>(r);
        const std::pair<double, double> point{x, chunk.y(0, r)};
        if (seen < kPlotPoints) {
          plot_points.push_back(point);
        } else {
          const std::uint64_t slot = plot_rng.below(seen + 1);
          if (slot < kPlotPoints) plot_points[slot] = point;
        }
      }
    }
    write_header();
    for (int r = 0; r < n; ++r) {
      for (const auto& kept : chunk.kept[r]) writer.field(kept);
      for (int k = 0; k < value_columns; ++k) writer.field(values(k, r));
      writer.end_row();
    }
    rows_done += static_cast<std::size_t>(n);
    progress.update(rows_done);
  }
  write_header();

  PredictSummary summary;
  summary.rows = rows_done;
  if (cols.has_targets && rows_done > 0) {
    const double n = static_cast<double>(rows_done);
    nlohmann::ordered_json m;
    m["rows"] = rows_done;
    m["nll"] = total.nll / n;
    double sq = 0, ab = 0, cr = 0, cov = 0;
    for (int d = 0; d < dy; ++d) {
      sq += total.sq[d];
      ab += total.abs[d];
      cr += total.crps[d];
      cov += total.covered[d];
    }
    m["rmse"] = std::sqrt(sq / (n * dy));
    m["mae"] = ab / (n * dy);
    m["crps"] = cr / (n * dy);
    m["coverage"] = cov / (n * dy);
    m["interval"] = coverage_level;
    m["mean_ess"] = total.ess / n;
    m["samples"] = o.samples;
    m["seed"] = o.seed;
    std::vector<long> pooled(kPitFineBins, 0);
    for (int d = 0; d < dy; ++d) {
      for (int b = 0; b < kPitFineBins; ++b) pooled[b] += total.pit[static_cast<std::size_t>(d) * kPitFineBins + b];
    }
    const auto levels_json = [](const std::vector<long>& fine) {
      nlohmann::ordered_json levels = nlohmann::ordered_json::object();
      for (double level : kReportedCoverageLevels) levels[format_number(level)] = pit_coverage(fine, level);
      return levels;
    };
    m["coverage_levels"] = levels_json(pooled);
    m["pit_histogram"] = pit_histogram(pooled, 10);
    nlohmann::ordered_json per_target = nlohmann::ordered_json::object();
    for (int d = 0; d < dy; ++d) {
      const std::vector<long> fine(total.pit.begin() + static_cast<std::ptrdiff_t>(d) * kPitFineBins,
                                   total.pit.begin() + static_cast<std::ptrdiff_t>(d + 1) * kPitFineBins);
      per_target[c.targets[d]] = {{"rmse", std::sqrt(total.sq[d] / n)},
                                  {"mae", total.abs[d] / n},
                                  {"crps", total.crps[d] / n},
                                  {"coverage", total.covered[d] / n},
                                  {"coverage_levels", levels_json(fine)},
                                  {"pit_histogram", pit_histogram(fine, 10)}};
      summary.pit_counts.push_back(fine);
    }
    m["targets"] = per_target;
    summary.metrics = m;
    if (metrics_file) {
      for (const auto& item : m.items()) {
        if (item.value().is_number_float() && !std::isfinite(item.value().get<double>())) {
          throw NumericalError("metric '" + item.key() + "' is not finite");
        }
      }
    }
  } else if (metrics_file) {
    throw DataError(reader.source() + ": no data rows to compute metrics on");
  }
  if (plot_file) {
    if (rows_done == 0) throw DataError(reader.source() + ": no data rows to plot");
    const DensityPlot plot = compute_density_plot(c, plot_x_lo, plot_x_hi, NAN, NAN, 120, 100,
                                                  o.interval.value_or(0.9), o.samples, o.seed, plot_points);
    plot_file->stream() << density_plot_svg(plot);
  }
  if (report_file) {
    if (summary.pit_counts.empty()) throw DataError(reader.source() + ": no data rows for --report");
    report_file->stream() << calibration_report_svg(c.targets, summary.pit_counts, rows_done);
  }
  // Renamed only once every file is complete and written: a failed run leaves none.
  if (metrics_file) {
    metrics_file->stream() << summary.metrics.dump(2) << '\n';
    metrics_file->finish();
  }
  if (plot_file) plot_file->finish();
  if (report_file) report_file->finish();
  out.commit();
  if (metrics_file) metrics_file->commit();
  if (plot_file) plot_file->commit();
  if (report_file) report_file->commit();
  return summary;
}

// ---------------------------------------------------------------------------- sample

std::size_t run_sample(const SampleOptions& o) {
  if (o.draws < 1) throw UsageError("-n must be at least 1");
  if (o.langevin_steps < 0) throw UsageError("--langevin-steps must be >= 0");
  if (!(o.langevin_step > 0)) throw UsageError("--langevin-step must be positive");
  check_threads(o.threads);
  const int proposal_samples = o.proposal_samples > 0 ? o.proposal_samples : std::max(1024, 4 * o.draws);
  const Checkpoint c = load_checkpoint(o.model_path);
  const EnergyModel model(c.architecture);
  CsvReader reader(o.data_path, o.csv);
  const InputColumns cols = resolve_columns(reader, c, o.keep, false, "");
  OutputFile out(o.output_path);
  CsvWriter writer(out.stream(), o.output_csv, o.precision);
  std::vector<std::string> header{"row", "sample"};
  header.insert(header.end(), o.keep.begin(), o.keep.end());
  header.insert(header.end(), c.targets.begin(), c.targets.end());
  bool header_written = false;  // written with the first chunk, as in run_predict
  const int dy = c.architecture.y_dim;
  ThreadPool pool(o.threads);
  const int rows_per_task = std::max(1, 16384 / std::max(proposal_samples, o.draws));
  const int chunk_rows = std::max(rows_per_task, 256);
  std::size_t rows_done = 0;
  RowProgress progress(o.progress);
  InputChunk chunk;
  while (read_chunk(reader, c, cols, chunk_rows, rows_done, chunk)) {
    const int n = chunk.rows();
    Matrix<float> draws(dy, static_cast<Eigen::Index>(n) * o.draws);
    const int tasks = (n + rows_per_task - 1) / rows_per_task;
    pool.run(static_cast<std::size_t>(tasks), [&](std::size_t t) {
      const int begin = static_cast<int>(t) * rows_per_task;
      const int count = std::min(rows_per_task, n - begin);
      const Matrix<float> xs = chunk.x_std.middleCols(begin, count);
      const std::uint64_t first = chunk.first_row + static_cast<std::uint64_t>(begin);
      const std::vector<std::uint64_t> streams(chunk.streams.begin() + begin, chunk.streams.begin() + begin + count);
      const ImportanceSample is = importance_sample(model, c.params, xs, proposal_samples, o.seed, first, &streams);
      draws.middleCols(static_cast<Eigen::Index>(begin) * o.draws, static_cast<Eigen::Index>(count) * o.draws) =
          resample(model, c.params, is, o.draws, o.langevin_steps, o.langevin_step, o.seed, first, &streams);
    });
    if (!header_written) writer.write_row(header);
    header_written = true;
    for (int r = 0; r < n; ++r) {
      for (int i = 0; i < o.draws; ++i) {
        writer.field(std::to_string(rows_done + r));
        writer.field(std::to_string(i));
        for (const auto& kept : chunk.kept[r]) writer.field(kept);
        for (int d = 0; d < dy; ++d) {
          writer.field(c.y_scaler.to_original(d, draws(d, static_cast<Eigen::Index>(r) * o.draws + i)));
        }
        writer.end_row();
      }
    }
    rows_done += static_cast<std::size_t>(n);
    progress.update(rows_done);
  }
  if (!header_written) writer.write_row(header);
  out.commit();
  return rows_done;
}

}  // namespace ebm
