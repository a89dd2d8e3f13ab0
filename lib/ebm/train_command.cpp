// ebm-train: prepare data -> build the checkpoint's description -> [resume] -> train ->
// calibrate -> write the checkpoint (and the history picture).
#include <algorithm>
#include <limits>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>

#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/feature_encoding.h"
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
  if (!options.weight.empty()) {
    const auto& t = options.targets;
    const auto& f = options.features;
    if (std::find(t.begin(), t.end(), options.weight) != t.end() ||
        std::find(f.begin(), f.end(), options.weight) != f.end()) {
      throw UsageError("--weight: column '" + options.weight + "' cannot be a feature or a target as well");
    }
  }
  if (!options.init_model_path.empty() && !options.resume_path.empty()) {
    throw UsageError("--init-model and --resume cannot be used together (--resume continues a run; --init-model starts "
                     "a new one from a model's parameters)");
  }
  std::set<std::string> categorical;
  for (const auto& name : options.categorical) {
    if (!categorical.insert(name).second) throw UsageError("--categorical: column '" + name + "' is given twice");
    if (std::find(options.targets.begin(), options.targets.end(), name) != options.targets.end()) {
      throw UsageError("--categorical: column '" + name + "' is a target; targets are numeric");
    }
    if (!options.features.empty() && !seen.count(name)) {
      throw UsageError("--categorical: column '" + name + "' is not one of the --features");
    }
  }
  if (options.ensemble < 1) throw UsageError("--ensemble must be at least 1");
  if (options.first_member < 0) throw UsageError("--first-member must be >= 0");
  if (options.select_x_embedding && options.first_member > 0) {
    throw UsageError("--first-member needs --x-embedding none or periodic (the one member 1 chose: "
                     "architecture.x_embedding in its checkpoint), so that the members can be merged");
  }
  if (options.mix_x_embedding && !options.auto_ensemble && options.ensemble < 2) {
    throw UsageError("--x-embedding mix needs --ensemble 2 or more (its last member is the other x-embedding)");
  }
  if (options.mix_x_embedding && (options.checkpoint_every > 0 || !options.resume_path.empty())) {
    throw UsageError("--x-embedding mix trains an ensemble: not with --checkpoint-every or --resume");
  }
  if (options.ensemble > 1 && (options.checkpoint_every > 0 || !options.resume_path.empty())) {
    throw UsageError("--checkpoint-every and --resume train one model: with --ensemble, train the members one at a "
                     "time (--first-member K) and combine them with --merge");
  }
  if (options.refit && (options.checkpoint_every > 0 || !options.resume_path.empty())) {
    throw UsageError("--refit cannot be used with --checkpoint-every or --resume (the second training on all "
                     "rows keeps no resumable state)");
  }
}

// ----------------------------------------------------------------------- prepare data

// The training (and validation) rows in the model's standardised units.
struct TrainingData {
  std::vector<std::string> features, ignored_text_columns;
  std::vector<bool> categorical;     // per feature (--categorical)
  FeatureEncodings encoding;         // feature_encoding.h; empty = plain
  std::size_t rows_without_target = 0, rows_with_missing_features = 0;  // of the training rows
  Standardizer x_scaler, y_scaler;
  std::vector<double> y_min, y_max;  // range of each target over the training rows (user's units)
  std::vector<double> x_min, x_max;  // and of each feature
  std::vector<Lattice> y_lattice;    // per target (lattice.h)
  Matrix<float> x, y;              // x_dim x N, y_dim x N
  Matrix<float> x_valid, y_valid;  // 0 columns without validation rows
  TrainInputs inputs;              // the rows' weights (--weight); empty = unweighted
};

// The --weight column of `rows` of a table: finite (the reader refuses other text) and
// >= 0, checked with the cell's file:line:col.
std::vector<double> row_weights(const Table& table, const std::string& column, const std::vector<std::size_t>& rows) {
  const std::size_t j = table.column_index(column);
  if (!table.numeric[j]) throw DataError(table.source + ": --weight column '" + column + "' is not numeric");
  std::vector<double> weights;
  for (std::size_t r : rows) {
    const double w = table.values(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
    if (!(std::isfinite(w) && w >= 0)) {
      throw DataError(table.source + ":" + std::to_string(table.line_numbers[r]) + ":" + std::to_string(j + 1) +
                      ": column '" + column + "': a weight must be a finite number >= 0, found " + format_number(w));
    }
    weights.push_back(w);
  }
  return weights;
}

// A weighted mean needs a positive, finite total.
void check_weight_sum(const std::vector<double>& weights, const std::string& source, const std::string& rows) {
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  if (!(sum > 0 && std::isfinite(sum))) {
    throw DataError(source + ": the weights of the " + rows + " rows sum to " + format_number(sum) +
                    "; a weighted mean needs a positive, finite total");
  }
}

std::vector<std::size_t> column_indices(const Table& table, const std::vector<std::string>& names) {
  std::vector<std::size_t> out;
  for (const auto& name : names) {
    const std::size_t index = table.column_index(name);
    if (!table.numeric[index]) throw DataError(table.source + ": column '" + name + "' is not numeric");
    out.push_back(index);
  }
  return out;
}

bool is_declared_categorical(const TrainOptions& options, const std::string& name) {
  return std::find(options.categorical.begin(), options.categorical.end(), name) != options.categorical.end();
}

// The columns read_table must parse as numbers: the targets and the given features that
// are not categorical.
std::vector<std::string> numeric_columns(const TrainOptions& options, const std::vector<std::string>& features) {
  std::vector<std::string> out = options.targets;
  for (const auto& name : features) {
    if (!is_declared_categorical(options, name)) out.push_back(name);
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

// The columns of the features: numeric ones (checked) and the declared categorical ones.
std::vector<std::size_t> feature_column_indices(const TrainOptions& options, const Table& table,
                                                const std::vector<std::string>& features) {
  std::vector<std::size_t> out;
  for (const auto& name : features) {
    out.push_back(is_declared_categorical(options, name) ? table.column_index(name)
                                                         : column_indices(table, {name}).front());
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

// The features given, or every numeric or declared categorical column that is not a
// target (the other text columns are noted).
void choose_features(const TrainOptions& options, const Table& table, TrainingData& data) {
  data.features = options.features;
  if (data.features.empty()) {
    for (std::size_t j = 0; j < table.columns.size(); ++j) {
      const std::string& name = table.columns[j];
      if (std::find(options.targets.begin(), options.targets.end(), name) != options.targets.end()) continue;
      if (name == options.weight) continue;  // a weight is not a feature
      const bool feature = table.numeric[j] || is_declared_categorical(options, name);
      (feature ? data.features : data.ignored_text_columns).push_back(name);
    }
  }
  for (const auto& name : data.features) data.categorical.push_back(is_declared_categorical(options, name));
  if (data.features.empty()) {
    throw DataError(table.source + ": no feature columns (every column other than the targets is text or absent)");
  }
}

// The rows whose targets are all present (a row with a missing target teaches nothing).
std::vector<std::size_t> rows_with_targets(const Table& table, const std::vector<std::size_t>& target_columns) {
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    bool complete = true;
    for (std::size_t j : target_columns) complete = complete && !std::isnan(table.values(r, j));
    if (complete) rows.push_back(r);
  }
  if (rows.empty()) throw DataError(table.source + ": no row has a value in every target column");
  return rows;
}

// Training and held-out rows among `usable` (sorted), by a seeded shuffle.
void split_rows(const TrainSettings& s, const std::string& source, const std::vector<std::size_t>& usable,
                std::vector<std::size_t>& train_rows, std::vector<std::size_t>& valid_rows) {
  train_rows = usable;
  if (s.valid_fraction <= 0) return;
  const std::size_t total = usable.size();
  Rng rng(s.seed ^ streams::kValidSplit, 0);
  for (std::size_t i = train_rows.size(); i-- > 1;) std::swap(train_rows[i], train_rows[rng.below(i + 1)]);
  // Early stopping and the temperature are chosen on these rows; on small data 10% is
  // too few to tell a calibrated model from an over-confident one (yacht: 28 rows gave
  // 75% coverage of 90% intervals), so the held-out set has at least valid_min_rows
  // rows, as long as that leaves three quarters of the data for training.
  std::size_t n_valid = static_cast<std::size_t>(std::llround(s.valid_fraction * total));
  n_valid = std::max(n_valid, std::min(static_cast<std::size_t>(std::max(s.valid_min_rows, 0)), total / 4));
  if (n_valid < 1 || n_valid >= total) {
    throw DataError(source + ": --valid-fraction " + format_number(s.valid_fraction) + " of " +
                    std::to_string(total) + " rows leaves no training or no validation rows");
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
  if (const int d = data.y_scaler.first_out_of_range(); d >= 0) refuse("target", options.targets[d]);
  for (std::size_t d = 0; d < data.y_min.size(); ++d) {
    const double span = data.y_max[d] - data.y_min[d];
    if (!std::isfinite(data.y_min[d] - span) || !std::isfinite(data.y_max[d] + span)) {
      refuse("target", options.targets[d]);
    }
  }
}

// Whether the values of a raw feature column that are present (not NaN; for a categorical
// one, the level codes, missing included) are all equal.
bool observed_constant(const Eigen::VectorXd& column) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : column) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return lo == hi;
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
    if (features_raw.rows() > 1 && observed_constant(features_raw.col(j))) {
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
    std::vector<std::string> needed = numeric_columns(options, data.features);
    if (!options.weight.empty()) needed.push_back(options.weight);  // the validation rows are weighted too
    const Table valid = read_table(options.valid_path, options.csv, needed, true, options.categorical);
    const std::vector<std::size_t> target_columns = column_indices(valid, options.targets);
    const std::vector<std::size_t> rows = rows_with_targets(valid, target_columns);
    data.x_valid = encode_block(raw_feature_block(valid, feature_column_indices(options, valid, data.features),
                                                  data.encoding, rows),
                                data.encoding, data.x_scaler);
    data.y_valid = standardised_block(valid, target_columns, rows, data.y_scaler);
    if (!options.weight.empty()) {
      data.inputs.valid_weights = row_weights(valid, options.weight, rows);
      check_weight_sum(data.inputs.valid_weights, valid.source, "validation");
    }
  } else if (!valid_rows.empty()) {
    data.x_valid = encode_block(raw_feature_block(table, feature_column_indices(options, table, data.features),
                                                  data.encoding, valid_rows),
                                data.encoding, data.x_scaler);
    data.y_valid = standardised_block(table, column_indices(table, options.targets), valid_rows, data.y_scaler);
    if (!options.weight.empty()) {
      data.inputs.valid_weights = row_weights(table, options.weight, valid_rows);
      check_weight_sum(data.inputs.valid_weights, table.source, "held-out validation");
    }
  }
}

// --init-model: the model to start from must have the columns of this run; its
// normalisation is kept (the parameters act on standardised values, so they mean the same
// thing only with the same statistics).
void check_init_columns(const TrainOptions& options, const TrainingData& data, const Checkpoint& init) {
  const std::string& path = options.init_model_path;
  if (init.features != data.features) {
    throw DataError(path + ": --init-model has the features " + join_names(init.features) + ", this run " +
                    join_names(data.features) + " (the same features, in the same order, are needed)");
  }
  if (init.targets != options.targets) {
    throw DataError(path + ": --init-model has the targets " + join_names(init.targets) + ", this run " +
                    join_names(options.targets));
  }
}

// Fits the standardisers on the training rows, or takes them from the --init-model.
void choose_scalers(const Eigen::MatrixXd& features_raw, const Eigen::MatrixXd& targets_raw, const Checkpoint* init,
                    TrainingData& data) {
  data.x_scaler = init != nullptr ? init->x_scaler : fit_feature_scaler(features_raw, data.encoding);
  data.y_scaler = init != nullptr ? init->y_scaler : Standardizer::fit(targets_raw);
}

// Rows of a raw feature block with some feature missing (NaN, or a categorical code
// below 0).
std::size_t rows_with_missing(const Eigen::MatrixXd& features_raw, const FeatureEncodings& encoding) {
  std::size_t count = 0;
  for (Eigen::Index r = 0; r < features_raw.rows(); ++r) {
    bool missing = false;
    for (Eigen::Index j = 0; j < features_raw.cols(); ++j) {
      const double v = features_raw(r, j);
      missing = missing || std::isnan(v) || (is_categorical(encoding, static_cast<std::size_t>(j)) && v < 0);
    }
    count += missing ? 1 : 0;
  }
  return count;
}

// Smallest and largest observed value of each column of a raw feature block (a missing
// numeric value is NaN and skipped; a categorical feature's range is that of its codes).
void observed_ranges(const Eigen::MatrixXd& features_raw, std::vector<double>& lo, std::vector<double>& hi) {
  for (Eigen::Index j = 0; j < features_raw.cols(); ++j) {
    double a = std::numeric_limits<double>::infinity(), b = -a;
    for (Eigen::Index r = 0; r < features_raw.rows(); ++r) {
      const double v = features_raw(r, j);
      if (std::isnan(v)) continue;
      a = std::min(a, v);
      b = std::max(b, v);
    }
    lo.push_back(a);
    hi.push_back(b);
  }
}

TrainingData prepare_training_data(const TrainOptions& options, const Checkpoint* init) {
  std::vector<std::string> required = options.targets;
  required.insert(required.end(), options.features.begin(), options.features.end());
  if (!options.weight.empty()) required.push_back(options.weight);
  // With explicit features, columns the model does not use are not even parsed.
  const Table table = read_table(options.data_path, options.csv, numeric_columns(options, options.features),
                                 !options.features.empty(), options.categorical);
  TrainingData data;
  choose_features(options, table, data);
  if (init != nullptr) check_init_columns(options, data, *init);
  const std::vector<std::size_t> feature_columns = feature_column_indices(options, table, data.features);
  const std::vector<std::size_t> target_columns = column_indices(table, options.targets);
  const std::vector<std::size_t> usable = rows_with_targets(table, target_columns);
  data.rows_without_target = table.rows() - usable.size();
  std::vector<std::size_t> train_rows, valid_rows;
  split_rows(options.settings, table.source, usable, train_rows, valid_rows);
  if (!options.weight.empty()) {
    data.inputs.weights = row_weights(table, options.weight, train_rows);
    check_weight_sum(data.inputs.weights, table.source, "training");
  }
  // An --init-model's encoding is kept, as its normalisation is: its parameters read
  // inputs in that layout.
  data.encoding = init != nullptr ? init->feature_encoding
                                  : fit_encodings(table, feature_columns, data.categorical, train_rows);
  const Eigen::MatrixXd features_raw = raw_feature_block(table, feature_columns, data.encoding, train_rows);
  const Eigen::MatrixXd targets_raw = raw_block(table, target_columns, train_rows);
  data.rows_with_missing_features = rows_with_missing(features_raw, data.encoding);
  choose_scalers(features_raw, targets_raw, init, data);
  for (Eigen::Index d = 0; d < targets_raw.cols(); ++d) {
    data.y_min.push_back(targets_raw.col(d).minCoeff());
    data.y_max.push_back(targets_raw.col(d).maxCoeff());
    data.y_lattice.push_back(detect_lattice(targets_raw.col(d)));
  }
  // The features' ranges over every row the model learnt from, validation rows included.
  observed_ranges(raw_feature_block(table, feature_columns, data.encoding, usable), data.x_min, data.x_max);
  if (init != nullptr) {
    // The model has now seen both data sets: the ranges cover both; the lattice is the
    // old model's (the parameters learnt that density).
    for (std::size_t j = 0; j < init->x_lo.size(); ++j) {
      data.x_min[j] = std::min(data.x_min[j], init->x_lo[j]);
      data.x_max[j] = std::max(data.x_max[j], init->x_hi[j]);
    }
    if (!init->y_lattice.empty()) data.y_lattice = init->y_lattice;
  }
  check_finite_statistics(options, data, table.source);
  check_constant_columns(targets_raw, features_raw, options, data, table.source);
  data.x = encode_block(features_raw, data.encoding, data.x_scaler);
  data.y = standardised_block(table, target_columns, train_rows, data.y_scaler);
  load_validation(options, table, valid_rows, data);
  return data;
}

// A fingerprint of the values trained and validated on (standardised, as the network
// sees them; FNV-1a over their bytes and shapes): --resume compares it, so that the same
// means and spreads with the targets moved between rows are still "different data".
std::string data_fingerprint(const TrainingData& data) {
  std::uint64_t h = 1469598103934665603ull;
  const auto mix = [&](const void* bytes, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(bytes);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (const Matrix<float>* m : {&data.x, &data.y, &data.x_valid, &data.y_valid}) {
    const std::int64_t shape[2] = {m->rows(), m->cols()};
    mix(shape, sizeof shape);
    mix(m->data(), static_cast<std::size_t>(m->size()) * sizeof(float));
  }
  // The rows' weights (--weight) are data too; none = nothing mixed in.
  for (const std::vector<double>* w : {&data.inputs.weights, &data.inputs.valid_weights}) {
    if (!w->empty()) mix(w->data(), w->size() * sizeof(double));
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

// ------------------------------------------------------------------ describe the model

Checkpoint new_checkpoint(const TrainOptions& options, const TrainingData& data, int total_epochs,
                          const Checkpoint* init) {
  Checkpoint c;
  c.features = data.features;
  c.targets = options.targets;
  c.x_scaler = data.x_scaler;
  c.feature_encoding = data.encoding;
  c.y_scaler = data.y_scaler;
  set_support_from_range(c, data.y_min, data.y_max);
  for (std::size_t d = 0; init != nullptr && d < init->y_support_lo.size(); ++d) {
    c.y_support_lo[d] = std::min(c.y_support_lo[d], init->y_support_lo[d]);  // covers old and new data
    c.y_support_hi[d] = std::max(c.y_support_hi[d], init->y_support_hi[d]);
  }
  c.x_lo = data.x_min;
  c.x_hi = data.x_max;
  c.y_lattice = data.y_lattice;
  c.architecture = options.architecture;
  c.architecture.x_dim = encoded_width(data.encoding, data.features.size());
  c.architecture.y_dim = static_cast<int>(options.targets.size());
  TrainingFacts facts;
  facts.data = options.data_path == "-" ? "<stdin>" : options.data_path;
  facts.rows = static_cast<std::size_t>(data.x.cols());
  facts.epochs = total_epochs;
  facts.valid_path = options.valid_path;
  facts.valid_rows = static_cast<std::size_t>(data.x_valid.cols());
  facts.config = options.config;
  facts.weight = options.weight;
  facts.init_model = options.init_model_path;
  c.training = training_record(options.settings, facts);
  return c;
}

// The rows skipped, and how missing values and categorical features enter the network.
void log_encoding(std::ostream& log, const TrainingData& data) {
  if (data.rows_without_target > 0) {
    log << "ebm-train: skipped " << data.rows_without_target << " row(s) with a missing target value\n";
  }
  if (data.encoding.empty()) return;
  std::vector<std::string> missing, categorical;
  for (std::size_t j = 0; j < data.features.size(); ++j) {
    const FeatureEncoding& e = data.encoding[j];
    if (e.kind == FeatureKind::categorical) {
      categorical.push_back(data.features[j] + " (" + std::to_string(e.levels.size()) + " levels)");
    } else if (e.missing_in_training) {
      missing.push_back(data.features[j]);
    }
  }
  if (!missing.empty()) {
    log << "missing values in " << data.rows_with_missing_features << " training row(s); imputed by the mean, with "
        << "an indicator input, for: " << join_names(missing) << "\n";
  }
  if (!categorical.empty()) log << "categorical (one-hot): " << join_names(categorical) << "\n";
}

void log_plan(const TrainOptions& options, const TrainingData& data) {
  if (options.log == nullptr || options.verbosity < 1) return;
  std::ostream& log = *options.log;
  log << "training on " << data.x.cols() << " rows";
  if (data.x_valid.cols() > 0) log << ", validating on " << data.x_valid.cols();
  log << "; features: " << join_names(data.features) << "; targets: " << join_names(options.targets) << "\n";
  if (!data.ignored_text_columns.empty()) log << "ignoring text columns: " << join_names(data.ignored_text_columns) << "\n";
  log_encoding(log, data);
  for (std::size_t d = 0; d < data.y_lattice.size(); ++d) {
    if (!data.y_lattice[d].discrete()) continue;
    log << "ebm-train: target '" << options.targets[d] << "' takes values on "
        << describe(data.y_lattice[d], data.y_max[d])
        << ": trained on dequantised values; ebm-predict --metrics reports the probability of the observed value\n";
  }
}

void log_model(const TrainOptions& options, const EnergyModel& model) {
  if (options.log == nullptr || options.verbosity < 1) return;
  *options.log << "model: " << model.parameter_count() << " parameters, method " << objective_name(options.settings.objective)
      << ", noise " << noise_name(options.settings.noise) << ", " << options.settings.samples
      << " samples per example, learning rate " << format_number(options.settings.learning_rate);
  if (model.architecture().energy_form == EnergyForm::relative) {
    *options.log << ", energy log q + g (proposal fitted by likelihood, no calibration)";
  }
  *options.log << "\n";
}

// How the model was calibrated on the validation rows (identity: not calibrated).
struct Calibration {
  double temperature = 1.0, proposal_scale = 1.0;
  // Validation NLL at T = 1 and at the fitted temperature, from one estimate (the same
  // rows and draws), so they compare like with like (standardised units).
  double nll_before = NAN, nll_after = NAN;
  // log p(y|x) of every validation row at the fitted temperature, from the same estimate.
  std::vector<double> valid_log_density;
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
    if (std::isfinite(kept.valid_temperature)) {
      results["valid_nll_tempered"] = finite_or_null(kept.valid_score + log_jacobian);
      results["valid_temperature"] = kept.valid_temperature;
    }
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
    if (std::isfinite(r.valid_temperature)) {
      rows.back()["valid_nll_tempered"] = finite_or_null(r.valid_score + log_jacobian);
      rows.back()["valid_temperature"] = r.valid_temperature;
    }
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
TrainingState resume_state(const TrainOptions& options, const Checkpoint& checkpoint, int total_epochs) {
  const std::string& path = options.resume_path;
  Checkpoint previous = load_checkpoint(path, /*with_resume_state=*/true);
  if (!previous.resume) {
    throw DataError(path + ": has no training state to resume from (write one with --checkpoint-every)");
  }
  if (previous.features != checkpoint.features || previous.targets != checkpoint.targets ||
      previous.architecture != checkpoint.architecture || previous.feature_encoding != checkpoint.feature_encoding) {
    throw DataError(path + ": columns or architecture differ from this run's options");
  }
  if (previous.x_scaler.mean != checkpoint.x_scaler.mean || previous.x_scaler.scale != checkpoint.x_scaler.scale ||
      previous.y_scaler.mean != checkpoint.y_scaler.mean || previous.y_scaler.scale != checkpoint.y_scaler.scale) {
    throw DataError(path + ": was trained on different data (normalisation statistics differ); resume needs the "
                           "same data, options and seed");
  }
  if (!previous.data_fingerprint.empty() && previous.data_fingerprint != checkpoint.data_fingerprint) {
    throw DataError(path + ": was trained on different data (the fingerprint of the training values differs); "
                           "resume needs the same data, options and seed");
  }
  // Everything that shapes the optimisation must match, or "resume" would silently be a
  // different run; except --epochs, which may grow: the first epochs of a longer run are
  // those of a shorter one, unless the cosine schedule ties the learning rate to the total.
  TrainSettings before = train_settings_from_record(previous.training, path);
  if (before.epochs != options.settings.epochs || before.auto_steps != options.settings.auto_steps) {
    const std::string epochs_before = previous.training["epochs"].dump();
    if (options.settings.cosine_schedule) {
      throw DataError(path + ": training option 'epochs' differs (" + epochs_before + " vs " +
                      std::to_string(total_epochs) +
                      "), and the cosine schedule's learning rate depends on the number of epochs: resume with the "
                      "same --epochs (a run is extensible with --schedule constant)");
    }
    before.epochs = options.settings.epochs;
    before.auto_steps = options.settings.auto_steps;
  }
  if (previous.resume->epochs_done > total_epochs) {
    throw DataError(path + ": has " + std::to_string(previous.resume->epochs_done) + " epochs done, more than --epochs " +
                    std::to_string(total_epochs) + "; resume needs at least as many epochs");
  }
  const std::string key = first_difference(before, options.settings);
  if (!key.empty()) {
    // A key added since the file was written reads as its old behaviour (average_decay 0,
    // epoch_score raw).
    const std::string before_value = previous.training.contains(key) ? previous.training[key].dump()
                                                                     : training_record(before, {})[key].dump();
    throw DataError(path + ": training option '" + key + "' differs from this run's (" + before_value + " vs " +
                    checkpoint.training[key].dump() + "); resume needs the same options");
  }
  const std::string before_weight = previous.training.value("weight", std::string());
  if (before_weight != options.weight) {
    throw DataError(path + ": was trained with --weight '" + before_weight + "', this run with '" + options.weight +
                    "'; resume needs the same options");
  }
  return std::move(*previous.resume);
}

// --init-model: its architecture must be this run's (else the first key that differs is
// named), and it must have a member for every member this run trains.
std::vector<ParamVector> init_parameters(const TrainOptions& options, const Checkpoint& init,
                                         const Architecture& architecture) {
  const std::string& path = options.init_model_path;
  for (const EnsembleMember& m : init.more_members) {
    if (m.architecture) {
      throw DataError(path + ": --init-model: its members differ in architecture (an x-embedding mix); fine-tuning "
                             "needs one architecture (train a new model, or fine-tune members trained apart)");
    }
  }
  if (init.architecture != architecture) {
    const nlohmann::ordered_json a = to_json(init.architecture), b = to_json(architecture);
    std::string key;
    for (const auto& item : a.items()) {
      if (!b.contains(item.key()) || b[item.key()] != item.value()) {
        key = item.key();
        break;
      }
    }
    for (const auto& item : b.items()) {
      if (key.empty() && !a.contains(item.key())) key = item.key();
    }
    throw DataError(path + ": --init-model has a different architecture: " + key + " is " +
                    (a.contains(key) ? a[key].dump() : "absent") + " there, " + (b.contains(key) ? b[key].dump() : "absent") +
                    " in this run (give the model's architecture options)");
  }
  std::vector<ParamVector> members = member_parameters(init);
  const int needed = options.first_member + options.ensemble;
  if (static_cast<int>(members.size()) < needed) {
    throw DataError(path + ": --init-model has " + std::to_string(members.size()) + " member(s); this run trains members " +
                    "up to " + std::to_string(needed) + " and starts member k from the model's member k");
  }
  return members;
}

// ------------------------------------------------------------------------- calibrate

bool calibrates(const TrainSettings& s, const Architecture& architecture, const TrainingData& data) {
  return calibrates(s, architecture, data.x_valid.cols() > 0);
}

// The proposal's width first: the temperature is then fitted with the importance sampling
// estimates of the widened proposal, which are the ones predictions use. Both change
// `params` in place.
Calibration calibrate(const TrainOptions& options, const TrainSettings& s, const EnergyModel& model,
                      const TrainingData& data, ParamVector& params) {
  Calibration cal;
  const double log_jacobian = data.y_scaler.log_jacobian();
  std::ostream* log = options.verbosity >= 2 ? options.log : nullptr;
  double q_before = NAN, q_after = NAN;
  const std::vector<double>* weights = &data.inputs.valid_weights;  // empty = unweighted
  cal.proposal_scale = fit_proposal_scale(model, params, data.x_valid, data.y_valid, &q_before, &q_after, weights);
  model.shift_proposal_log_variances(params.data(), static_cast<float>(2.0 * std::log(cal.proposal_scale)));
  if (log != nullptr) {
    *log << "calibration: proposal width x" << format_number(cal.proposal_scale, 4) << ", valid proposal NLL "
         << format_number(q_before + log_jacobian, 5) << " -> " << format_number(q_after + log_jacobian, 5) << "\n";
  }
  cal.temperature = fit_temperature(model, params, data.x_valid, data.y_valid, s.valid_samples,
                                    s.seed ^ streams::kTemperature, s.threads, &cal.nll_before, &cal.nll_after,
                                    s.support, weights, &cal.valid_log_density);
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

// The candidate that lost the x-embedding probe, trained to the end (train_first_member).
struct OtherCandidate {
  Architecture architecture;
  MemberOutcome outcome;
};

// Part of a member's run, for the x-embedding probe (train_first_member): stop after
// epoch `last_epoch` (0: run to the end), and/or continue from `start`, a state such a
// stop left (moved from: the run takes it over). A run stopped after epoch k and continued
// gives the parameters of the run that was never stopped, bit for bit (TrainingState).
struct MemberRun {
  int last_epoch = 0;
  TrainingState* start = nullptr;
};

// Trains member `member` (0-based among those of this run) with settings `s` (its seed),
// calibrates it, and records its results. With a single member this is exactly the run of
// a single model, snapshots (--checkpoint-every) and --resume included. A run stopped by
// `run.last_epoch` is calibrated and recorded as it stands.
MemberOutcome train_member(const TrainOptions& options, const TrainingData& data, const TrainSettings& s,
                           const EnergyModel& model, int total_epochs, int member, Checkpoint& checkpoint,
                           const std::vector<ParamVector>& init_members, const MemberRun& run = {}) {
  const bool single = options.ensemble == 1;
  std::optional<TrainingState> resume;
  if (run.start != nullptr) {
    resume = std::move(*run.start);
  } else if (!options.resume_path.empty()) {
    resume = resume_state(options, checkpoint, total_epochs);
    if (options.log != nullptr && options.verbosity >= 1) {
      *options.log << "resuming after epoch " << resume->epochs_done << " of " << total_epochs << "\n";
    }
  }
  if (!single && run.start == nullptr && options.log != nullptr && options.verbosity >= 1) {
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
    return run.last_epoch == 0 || r.epoch < run.last_epoch;
  };
  const auto on_batch = [&](int batch, int batches) { progress.batch_done(batch, batches); };
  MemberOutcome outcome;
  TrainInputs inputs = data.inputs;  // weights, and the parameters to start from
  if (!init_members.empty()) inputs.init_params = init_members[static_cast<std::size_t>(options.first_member + member)];
  if (options.training != nullptr) options.training->store(true);
  outcome.result = train(model, data.x, data.y, data.x_valid, data.y_valid, s, on_epoch, on_batch,
                         resume ? &*resume : nullptr, options.interrupt, &inputs);
  if (options.training != nullptr) options.training->store(false);
  if (outcome.result.interrupted) return outcome;
  outcome.params = outcome.result.params;
  if (calibrates(s, model.architecture(), data) && !outcome.result.history.empty()) {
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

// The embedding of `given` (kind and sizes) on the architecture `a`.
Architecture with_embedding_of(Architecture a, const Architecture& given) {
  a.x_embedding = given.x_embedding;
  a.embedding_frequencies = given.embedding_frequencies;
  a.embedding_dim = given.embedding_dim;
  a.embedding_sigma = given.embedding_sigma;
  return a;
}

// The architectures member 1 is trained with, the first winning ties: this run's alone,
// or with --x-embedding auto none and periodic (or, when continuing or fine-tuning a
// model, the embedding that model has; without validation rows, none).
std::vector<Architecture> candidate_architectures(const TrainOptions& options, const TrainingData& data,
                                                  const Architecture& architecture, const Checkpoint* init) {
  if (!options.select_x_embedding) return {architecture};
  if (!options.resume_path.empty()) {
    return {with_embedding_of(architecture, load_checkpoint(options.resume_path).architecture)};
  }
  if (init != nullptr) return {with_embedding_of(architecture, init->architecture)};
  Architecture none = architecture, periodic = architecture;
  none.x_embedding = XEmbedding::none;
  periodic.x_embedding = XEmbedding::periodic;
  if (data.x_valid.cols() == 0) return {none};
  return {none, periodic};
}

// What --x-embedding auto records for each candidate: the validation NLL after
// calibration, or of the kept epoch when there was no calibration (+inf when neither is
// known).
double validation_score(const nlohmann::ordered_json& results) {
  for (const char* key : {"valid_nll_calibrated", "valid_nll"}) {
    if (results.contains(key) && results[key].is_number()) return results[key].get<double>();
  }
  return std::numeric_limits<double>::infinity();
}

// log p(y|x) of every validation row under a trained candidate (standardised units): the
// calibration's own estimate when it ran, otherwise one with the candidates and seed the
// temperature fit would use.
std::vector<double> validation_log_densities(const TrainSettings& s, const EnergyModel& model,
                                             const TrainingData& data, const MemberOutcome& outcome) {
  if (!outcome.calibration.valid_log_density.empty()) return outcome.calibration.valid_log_density;
  return row_log_densities(tempering_data(model, outcome.params, data.x_valid, data.y_valid, s.valid_samples,
                                          s.seed ^ streams::kTemperature, s.threads, s.support));
}

// The epochs the x-embedding candidates are compared after (train_first_member): a
// quarter of the run's epochs, at most twice the early-stopping patience, at least one.
// Only the winner trains on, so the choice costs a fraction of a member instead of a
// whole one. Measured on UCI (docs/benchmarks.md, "The x-embedding probe"): 8 epochs of
// 29 on kin8nm and 7 of 25 on power-plant pick what the full runs pick; 30 epochs were
// too few on yacht, whose periodic candidate starts slower and wins later.
int embedding_probe_epochs(int total_epochs, const TrainSettings& s) {
  int probe = (total_epochs + 3) / 4;
  if (s.early_stopping > 0) probe = std::min(probe, 2 * s.early_stopping);
  return std::max(1, probe);
}

// Member 1 trained with each candidate architecture for embedding_probe_epochs epochs,
// then calibrated; the candidate with the lowest validation NLL (the first on a tie)
// trains on to the end from where its probe stopped (bit for bit the run that was never
// stopped), and `checkpoint.architecture` is set to its architecture (to the interrupted
// candidate's when training was interrupted). With two candidates (candidate_architectures
// gives at most two) the results record each one's validation NLL at the probe, and the
// mean and standard error of the per-row NLL difference, second minus first
// ("x_embedding_selection"): how decisive the choice was. A rule that kept the embedding
// only beyond 2 standard errors was measured and rejected (benchmarks.md, "The paired test
// for the x-embedding": Boston -0.03 nats, concrete +0.09, energy +0.07).
// With `other` and two candidates, the losing candidate also trains on to the end from
// where its probe stopped, into *other (its architecture in other->architecture): the
// x-embedding mix's other member (run_train).
MemberOutcome train_first_member(const TrainOptions& options, const TrainingData& data, const TrainSettings& s,
                                 int total_epochs, Checkpoint& checkpoint, const std::vector<ParamVector>& init_members,
                                 const std::vector<Architecture>& candidates, OtherCandidate* other = nullptr) {
  if (candidates.size() == 1) {
    checkpoint.architecture = candidates.front();
    const EnergyModel model(candidates.front());
    log_model(options, model);
    return train_member(options, data, s, model, total_epochs, 0, checkpoint, init_members);
  }
  const int probe = embedding_probe_epochs(total_epochs, s);
  MemberOutcome best;
  std::size_t best_candidate = 0;
  double best_score = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> rows;  // per candidate: validation log-densities at the probe
  std::vector<MemberOutcome> probes;      // the losing candidate's probe (two candidates)
  nlohmann::ordered_json selection = nlohmann::ordered_json::object();
  const bool talk = options.log != nullptr && options.verbosity >= 1;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    checkpoint.architecture = candidates[c];
    const std::string name = x_embedding_name(candidates[c].x_embedding);
    if (talk) {
      *options.log << "x-embedding " << name << " (candidate " << c + 1 << " of " << candidates.size() << "), "
                   << probe << " epoch(s) to compare\n";
    }
    const EnergyModel model(candidates[c]);
    log_model(options, model);
    MemberOutcome outcome =
        train_member(options, data, s, model, total_epochs, 0, checkpoint, init_members, MemberRun{probe, nullptr});
    if (outcome.result.interrupted) return outcome;
    const double score = validation_score(outcome.results);
    selection[name] = finite_or_null(score);
    rows.push_back(validation_log_densities(s, model, data, outcome));
    if (c == 0 || score < best_score) {
      std::swap(best, outcome);  // the loser so far stays in `outcome`
      best_candidate = c;
      best_score = score;
    }
    if (c > 0) probes.push_back(std::move(outcome));
  }
  checkpoint.architecture = candidates[best_candidate];
  // NLL difference second - first = log-density first - second, per row; the same in
  // standardised and user's units.
  const PairedDifference difference = paired_difference(rows[1], rows[0], &data.inputs.valid_weights);
  selection["difference"] = finite_or_null(difference.mean);
  selection["standard_error"] = finite_or_null(difference.standard_error);
  selection["probe_epochs"] = probe;
  if (talk) {
    *options.log << "x-embedding: kept " << x_embedding_name(checkpoint.architecture.x_embedding)
                 << " (lowest validation NLL after " << probe << " epoch(s), " << format_number(best_score, 5) << "; "
                 << x_embedding_name(candidates[1].x_embedding) << " - " << x_embedding_name(candidates[0].x_embedding)
                 << " " << format_number(difference.mean, 4) << " +- " << format_number(difference.standard_error, 3)
                 << " per row)\n";
  }
  // The probe's end is the run's end when early stopping ended it or no epochs are left.
  if (!best.result.stopped_early && best.result.state.epochs_done < total_epochs) {
    TrainingState probe_state = std::move(best.result.state);
    const EnergyModel model(checkpoint.architecture);
    best = train_member(options, data, s, model, total_epochs, 0, checkpoint, init_members, MemberRun{0, &probe_state});
    if (best.result.interrupted) return best;
  }
  best.results["x_embedding_selection"] = selection;
  if (other != nullptr && probes.size() == 1) {
    other->architecture = candidates[1 - best_candidate];
    other->outcome = std::move(probes.front());
    if (!other->outcome.result.stopped_early && other->outcome.result.state.epochs_done < total_epochs) {
      if (talk) {
        *options.log << "x-embedding " << x_embedding_name(other->architecture.x_embedding)
                     << " trains on as the ensemble's other member\n";
      }
      TrainingState probe_state = std::move(other->outcome.result.state);
      const EnergyModel model(other->architecture);
      other->outcome = train_member(options, data, s, model, total_epochs, 0, checkpoint, init_members,
                                    MemberRun{0, &probe_state});
    }
  }
  return best;
}

// The seed member `member` (0-based among this run's) trains and calibrates with: --seed
// plus its number, so members trained apart (--first-member) are those trained at once.
std::uint64_t member_training_seed(const TrainOptions& options, const TrainSettings& s, int member) {
  return s.seed + static_cast<std::uint64_t>(options.first_member + member);
}

// --ensemble auto: a run that continues, snapshots or trains members apart trains one
// model; fine-tuning keeps the model's member count; otherwise auto_ensemble_size, and on
// small data with --x-embedding auto one member more, the probe's other candidate (an
// x-embedding mix: options.mix_x_embedding is set). Members are cheap there and the
// validation rows few, so the probe's choice is the least sure; on all 20 splits of the four
// small UCI sets the mix's member lowered the test NLL by 0.009 (energy) to 0.051
// (concrete) nats on top of three of the kept candidate (v10, maths.md §8c), and with the
// tempered epoch score Boston's RMSE and NLL depend on it more than on a third seed
// (benchmarks.md v14). The mix needs the calibration, which fits its weight, and
// validation rows for the probe.
void resolve_ensemble(TrainOptions& options, const Checkpoint* init, const TrainingData& data) {
  if (!options.auto_ensemble) return;
  options.auto_ensemble = false;
  if (options.first_member > 0 || options.checkpoint_every > 0 || !options.resume_path.empty()) {
    options.ensemble = 1;
    return;
  }
  if (init != nullptr) {
    options.ensemble = static_cast<int>(member_parameters(*init).size());
    return;
  }
  const auto train_rows = static_cast<std::size_t>(data.x.cols());
  options.ensemble = auto_ensemble_size(train_rows);
  const bool small = train_rows < kSmallDataRows;
  const bool can_mix = options.select_x_embedding && calibrates(options.settings, options.architecture, data);
  if (small && can_mix && !options.mix_x_embedding) {
    options.mix_x_embedding = true;
    options.ensemble += 1;
  } else if (options.mix_x_embedding) {
    options.ensemble = std::max(2, small ? options.ensemble + 1 : options.ensemble);  // a member of each x-embedding
  }
}

// Which members are the x-embedding mix's other candidate: those with an architecture of
// their own (run_train gives one to that member alone). Empty when there is none.
std::vector<bool> other_members(const Checkpoint& checkpoint) {
  std::vector<bool> other{false};
  bool any = false;
  for (const EnsembleMember& m : checkpoint.more_members) {
    other.push_back(m.architecture.has_value());
    any = any || m.architecture.has_value();
  }
  return any ? other : std::vector<bool>{};
}

// The calibration of the members trained by this run (fit_ensemble_calibration): the
// shared temperature, applied to each member's energy, and in an x-embedding mix the
// weight of the other candidate's members; recorded in the first member's results.
void calibrate_ensemble(const TrainOptions& options, const TrainSettings& s, const TrainingData& data,
                        Checkpoint& checkpoint) {
  std::vector<Member> members = ensemble_members(checkpoint);
  if (members.size() < 2 || !calibrates(s, checkpoint.architecture, data)) return;
  std::vector<std::uint64_t> seeds;
  for (std::size_t n = 0; n < members.size(); ++n) {
    seeds.push_back(member_training_seed(options, s, static_cast<int>(n)) ^ streams::kTemperature);
  }
  const std::vector<bool> other = other_members(checkpoint);
  const EnsembleCalibration cal = fit_ensemble_calibration(members, other, data.x_valid, data.y_valid, s.valid_samples,
                                                           seeds, s.threads, s.support, &data.inputs.valid_weights);
  const float factor = static_cast<float>(1.0 / cal.temperature);
  members[0].model.scale_energy(checkpoint.params.data(), factor);
  for (std::size_t n = 1; n < members.size(); ++n) {
    members[n].model.scale_energy(checkpoint.more_members[n - 1].params.data(), factor);
  }
  const double log_jacobian = data.y_scaler.log_jacobian();
  const auto& [temperature_key, before_key, after_key, other_key] = kEnsembleCalibrationKeys;
  checkpoint.results[temperature_key] = cal.temperature;
  checkpoint.results[before_key] = finite_or_null(cal.nll_before + log_jacobian);
  checkpoint.results[after_key] = finite_or_null(cal.nll_after + log_jacobian);
  std::string mix;
  if (!other.empty()) {
    // w in all for the other candidate's members, 1 - w for the rest, equal within each.
    const auto others = static_cast<double>(std::count(other.begin(), other.end(), true));
    const auto kept = static_cast<double>(other.size()) - others;
    checkpoint.member_weights.clear();
    for (bool o : other)
      checkpoint.member_weights.push_back(o ? cal.other_weight / others : (1.0 - cal.other_weight) / kept);
    checkpoint.results[other_key] = cal.other_weight;
    mix = ", weight of x-embedding " + x_embedding_name(checkpoint.more_members.back().architecture->x_embedding) +
          " " + format_number(cal.other_weight, 3);
  }
  if (options.log != nullptr && options.verbosity >= 1) {
    *options.log << "ensemble of " << members.size() << ": temperature " << format_number(cal.temperature, 4) << mix
                 << ", validation NLL " << format_number(cal.nll_before + log_jacobian, 5) << " -> "
                 << format_number(cal.nll_after + log_jacobian, 5) << "\n";
  }
}

// What a member's second training on all rows reuses from its first: the epoch count and
// the calibration fitted on the validation rows.
struct RefitPlan {
  int epochs = 0;
  Calibration calibration;
  std::uint64_t seed = 0;  // of its first training
};

// Columns of `a` followed by those of `b` (same number of rows).
Matrix<float> join_columns(const Matrix<float>& a, const Matrix<float>& b) {
  Matrix<float> joined(a.rows(), a.cols() + b.cols());
  joined << a, b;
  return joined;
}

// --refit (maths.md §8d): every member of `checkpoint` trained again from scratch on the
// training and validation rows together (x: x_dim x (N + N_valid), the first run's
// standardisation), for the epochs its first run kept, with that run's seed; then its
// first run's proposal width, temperature and the ensemble's temperature applied in the
// order and float arithmetic of the first run (calibrate, then calibrate_ensemble).
// When interrupted, the checkpoint keeps the first run's members and false is returned.
bool refit_members(const TrainOptions& options, const TrainSettings& s, const TrainingData& data,
                   const std::vector<RefitPlan>& plans, const std::vector<ParamVector>& init_members,
                   Checkpoint& checkpoint) {
  if (data.x_valid.cols() == 0) return true;
  const Checkpoint first_run = checkpoint;
  const Matrix<float> x = join_columns(data.x, data.x_valid), y = join_columns(data.y, data.y_valid);
  TrainInputs inputs;
  if (!data.inputs.weights.empty()) {
    inputs.weights = data.inputs.weights;
    inputs.weights.insert(inputs.weights.end(), data.inputs.valid_weights.begin(), data.inputs.valid_weights.end());
  }
  const char* temperature_key = kEnsembleCalibrationKeys[0];
  const double ensemble_temperature =
      checkpoint.results.contains(temperature_key) ? checkpoint.results[temperature_key].get<double>() : 1.0;
  const Matrix<float> none(data.x.rows(), 0), none_y(data.y.rows(), 0);
  for (std::size_t m = 0; m < plans.size(); ++m) {
    const EnergyModel model(member_architecture(checkpoint, m));
    TrainSettings ms = s;
    ms.seed = plans[m].seed;
    ms.epochs = std::max(1, plans[m].epochs);
    if (!init_members.empty()) inputs.init_params = init_members[static_cast<std::size_t>(options.first_member) + m];
    if (options.log != nullptr && options.verbosity >= 1) {
      *options.log << "refit member " << m + 1 << " (of " << plans.size() << ") on " << x.cols() << " rows for "
                   << ms.epochs << " epochs\n";
    }
    TrainResult result = train(model, x, y, none, none_y, ms, nullptr, nullptr, nullptr, options.interrupt, &inputs);
    if (result.interrupted) {
      checkpoint = first_run;
      if (options.log != nullptr) *options.log << "\ninterrupted during the refit: keeping the first run's members\n";
      return false;
    }
    ParamVector params = result.params;
    const Calibration& cal = plans[m].calibration;
    if (cal.proposal_scale != 1.0) {
      model.shift_proposal_log_variances(params.data(), static_cast<float>(2.0 * std::log(cal.proposal_scale)));
    }
    if (cal.temperature != 1.0) model.scale_energy(params.data(), static_cast<float>(1.0 / cal.temperature));
    if (ensemble_temperature != 1.0) model.scale_energy(params.data(), static_cast<float>(1.0 / ensemble_temperature));
    EnsembleMember member{params, checkpoint.results, {}};
    if (m > 0) {
      member.results = checkpoint.more_members[m - 1].results;
      member.architecture = checkpoint.more_members[m - 1].architecture;
    }
    member.results["refit_epochs"] = ms.epochs;
    if (m == 0) {
      checkpoint.params = member.params;
      checkpoint.results = member.results;
    } else {
      checkpoint.more_members[m - 1] = member;
    }
  }
  checkpoint.results["refit_rows"] = x.cols();
  return true;
}

// The members of run_train, one after another, into summary.checkpoint (member 1 with
// the x-embedding choice, the mix's other candidate last); each one's refit plan. On an
// interruption summary.interrupted is set and the complete members are kept; when member 1
// itself was interrupted its resumable snapshot is written and nullopt returned.
std::optional<std::vector<RefitPlan>> train_members(const TrainOptions& options, const TrainingData& data,
                                                    const TrainSettings& s, int total_epochs,
                                                    const std::vector<Architecture>& candidates,
                                                    const std::vector<ParamVector>& init_members,
                                                    TrainSummary& summary) {
  Checkpoint& checkpoint = summary.checkpoint;
  std::optional<EnergyModel> model;  // of the members after the first, once it is chosen
  std::vector<RefitPlan> refit_plans;
  // The x-embedding mix (--x-embedding mix, maths.md §8c): the candidate that lost the
  // probe trains on too and is the last member, its weight fitted with the shared
  // temperature.
  OtherCandidate other;
  const bool mix = candidates.size() == 2 && options.mix_x_embedding && options.ensemble >= 2;
  for (int member = 0; member < options.ensemble; ++member) {
    TrainSettings member_settings = s;
    member_settings.seed = member_training_seed(options, s, member);
    if (member == 1) model.emplace(checkpoint.architecture);
    const bool other_member = mix && member == options.ensemble - 1;
    MemberOutcome outcome =
        member == 0    ? train_first_member(options, data, member_settings, total_epochs, checkpoint, init_members,
                                            candidates, mix ? &other : nullptr)
        : other_member ? std::move(other.outcome)
                       : train_member(options, data, member_settings, *model, total_epochs, member, checkpoint,
                                      init_members);
    if (outcome.result.interrupted) {
      summary.interrupted = true;
      // The first member keeps a single model's behaviour (a resumable snapshot); later
      // ones leave the members already complete.
      if (member == 0) {
        summary.result = std::move(outcome.result);
        save_interrupted(options, checkpoint, summary.result);
        return std::nullopt;
      }
      if (options.log != nullptr) *options.log << "\ninterrupted: keeping the " << member << " complete member(s)\n";
      break;
    }
    const std::uint64_t seed = other_member ? s.seed : member_settings.seed;  // the other ran as member 1's probe
    refit_plans.push_back({outcome.result.best_epoch, outcome.calibration, seed});
    if (member == 0) {
      checkpoint.params = outcome.params;
      checkpoint.results = outcome.results;
      summary.result = std::move(outcome.result);
    } else {
      checkpoint.more_members.push_back({outcome.params, outcome.results, {}});
      if (other_member) checkpoint.more_members.back().architecture = other.architecture;
    }
    if (member == 0 && mix && other.outcome.result.interrupted) {  // member 1 is complete, the other is not
      summary.interrupted = true;
      if (options.log != nullptr) *options.log << "\ninterrupted: keeping the 1 complete member(s)\n";
      break;
    }
  }
  return refit_plans;
}

// The runs the automatic samples and learning rate are tuned for: NCE from kSmallDataRows
// training rows, where the planned optimiser steps rather than early stopping end the run.
bool ends_by_step_budget(std::size_t train_rows, Objective objective) {
  return objective == Objective::nce && train_rows >= kSmallDataRows;
}

// --samples auto and --lr auto, once the training rows are known.
void resolve_step_settings(TrainOptions& options, std::size_t train_rows) {
  if (options.auto_samples) options.settings.samples = auto_noise_samples(train_rows, options.settings.objective);
  if (options.auto_lr) options.settings.learning_rate = auto_learning_rate(train_rows, options.settings.objective);
  options.auto_samples = options.auto_lr = false;
}

}  // namespace

// Averaging members pays where the fit varies from seed to seed: 0.03-0.05 nats with 2
// members on kin8nm and power-plant (8,000 rows; docs/benchmarks.md v6), more on small
// sets, where resolve_ensemble adds the x-embedding mix's member. Small sets had a third
// member until the tempered epoch score made each run longer (v14): dropping it cost
// 0.004 (Boston) to 0.043 (energy) nats on the four small UCI sets and saved a fifth of
// their training time, which keeps the benchmark within its budget. A member costs as
// much as one model, so from kLargeDataRows rows, where one model already takes minutes,
// one member unless asked for more.
int auto_ensemble_size(std::size_t train_rows) { return train_rows < kLargeDataRows ? kEnsembleMembers : 1; }

// NCE contrasts each example with its M noise draws; on the 6,600- and 7,700-row UCI sets
// (kin8nm, power-plant: about 6,000 optimiser steps of 32 examples) M = 32 changed the test
// NLL of M = 64 by +0.002 +- 0.004 and +0.013 +- 0.009 nats (20 splits) in two thirds of
// the time, which pays for the x-embedding mix's member on small data within the
// benchmark's 45 minutes (docs/benchmarks.md v10). Below kSmallDataRows, and for the other
// methods, whose estimates of log Z use the draws directly, M stays 64.
int auto_noise_samples(std::size_t train_rows, Objective objective) {
  return ends_by_step_budget(train_rows, objective) ? kMidDataNoiseSamples : kNoiseSamples;
}

// From kSmallDataRows rows the automatic epoch count, not early stopping, ends an NCE run
// (kin8nm and power-plant at 1e-3: none of 40 runs of 25-29 epochs stopped early, and the
// best validation epoch was among the last five in 29), so the fixed budget of steps goes
// further with longer ones: 2e-3 lowered their test NLL by 0.009 +- 0.003 and
// 0.023 +- 0.008 nats (20 splits). Smaller sets stop early, where the longer steps cost:
// concrete +0.043 +- 0.010 (docs/benchmarks.md v11).
double auto_learning_rate(std::size_t train_rows, Objective objective) {
  return ends_by_step_budget(train_rows, objective) ? kMidDataLearningRate : kLearningRate;
}

TrainSummary run_train(const TrainOptions& given) {
  validate(given);
  TrainOptions options = given;  // with the ensemble size resolved once the rows are known
  // --resume may name -m: continuing a run replaces its checkpoint with a later one.
  check_distinct_files({{"DATA", options.data_path}, {"--valid", options.valid_path}},
                       {{"-m", options.model_path}, {"--plot-history", options.plot_history_path}});
  // Open the outputs first: an unwritable path fails now, not after an hour of training.
  OutputFile model_file(options.model_path);
  std::optional<OutputFile> history_file;
  if (!options.plot_history_path.empty()) history_file.emplace(options.plot_history_path);

  std::optional<Checkpoint> init;
  if (!options.init_model_path.empty()) init = load_checkpoint(options.init_model_path);
  const TrainingData data = prepare_training_data(options, init ? &*init : nullptr);
  resolve_ensemble(options, init ? &*init : nullptr, data);
  const std::size_t train_rows = static_cast<std::size_t>(data.x.cols());
  resolve_step_settings(options, train_rows);
  TrainSummary summary;
  summary.ignored_text_columns = data.ignored_text_columns;
  summary.rows_without_target = data.rows_without_target;
  summary.train_rows = train_rows;
  summary.valid_rows = static_cast<std::size_t>(data.x_valid.cols());
  const int total_epochs = resolve_epochs(options.settings, summary.train_rows);
  summary.checkpoint = new_checkpoint(options, data, total_epochs, init ? &*init : nullptr);
  Checkpoint& checkpoint = summary.checkpoint;
  checkpoint.data_fingerprint = data_fingerprint(data);
  const std::vector<Architecture> candidates =
      candidate_architectures(options, data, checkpoint.architecture, init ? &*init : nullptr);
  checkpoint.architecture = candidates.front();
  const std::vector<ParamVector> init_members =
      init ? init_parameters(options, *init, checkpoint.architecture) : std::vector<ParamVector>{};
  TrainSettings s = options.settings;
  s.support = standardised_support(checkpoint);
  for (std::size_t d = 0; d < data.y_lattice.size(); ++d) {
    s.lattice_step.push_back(data.y_lattice[d].step / data.y_scaler.scale[d]);
  }

  log_plan(options, data);
  const std::optional<std::vector<RefitPlan>> refit_plans =
      train_members(options, data, s, total_epochs, candidates, init_members, summary);
  if (!refit_plans) return summary;  // member 1 was interrupted: its snapshot is written
  if (!summary.interrupted) calibrate_ensemble(options, s, data, checkpoint);
  if (!summary.interrupted && options.refit) {
    summary.interrupted = !refit_members(options, s, data, *refit_plans, init_members, checkpoint);
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
