#include "ebm/input_chunks.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/inference.h"

namespace ebm {

void check_unique_names(const std::vector<std::string>& names, const std::string& option) {
  std::unordered_set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) throw UsageError(option + ": column '" + name + "' is given twice");
  }
}

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
  const std::string weight = weight_column(c);
  const auto& all = reader.columns();
  if (!weight.empty()) {
    const auto it = std::find(all.begin(), all.end(), weight);
    if (it != all.end()) cols.weight = static_cast<std::size_t>(it - all.begin());
  }
  return cols;
}

namespace {

// A cell in the model's standardised units. A value more than kMaxStandardised standard
// deviations from the training mean is refused at its line and column: in float it would
// become inf (1e39) or push the network's activations there, and end as "non-finite
// importance weights" without a location, or as a log-density of -nan.
double checked_standardised(const CsvReader& reader, std::size_t column, const Standardizer& scaler, int j,
                            double value) {
  const double z = scaler.to_standard(j, value);
  if (std::abs(z) <= Standardizer::kMaxStandardised) return z;
  throw DataError(reader.source() + ":" + std::to_string(reader.line_number()) + ":" + std::to_string(column + 1) +
                  ": column '" + reader.columns()[column] + "': " + format_number(value) + " is " +
                  format_number(std::abs(z), 3) + " standard deviations from the training mean (the model takes at most " +
                  std::to_string(static_cast<long>(Standardizer::kMaxStandardised)) + ")");
}

// The raw value of each feature of the current record (feature_encoding.h): numbers, NaN
// for a missing cell, level codes of categorical features (unknown levels counted).
void read_raw_features(const CsvReader& reader, const Checkpoint& c, const InputColumns& cols,
                       std::vector<double>& raw, EncodingCounts& counts) {
  for (std::size_t j = 0; j < cols.features.size(); ++j) {
    const std::size_t column = cols.features[j];
    if (!is_categorical(c.feature_encoding, j)) {
      raw[j] = reader.number_or_missing(column);
      if (!std::isnan(raw[j])) checked_standardised(reader, column, c.x_scaler, static_cast<int>(j), raw[j]);
      continue;
    }
    raw[j] = categorical_code(c.feature_encoding[j], reader.cell(column), reader.missing(column));
    if (raw[j] == kUnknownCode) counts.add_unknown(j, cols.features.size(), reader.cell(column));
  }
}

// The targets of the current record into column n; a row with a missing target is
// marked (its standardised targets are set to 0 so that nothing downstream sees a NaN).
void read_targets(const CsvReader& reader, const Checkpoint& c, const InputColumns& cols, Eigen::Index n,
                  InputChunk& chunk) {
  bool missing = false;
  for (std::size_t d = 0; d < cols.targets.size(); ++d) {
    const auto i = static_cast<Eigen::Index>(d);
    const double value = reader.number_or_missing(cols.targets[d]);
    chunk.y(i, n) = value;
    missing = missing || std::isnan(value);
    chunk.y_std(i, n) = static_cast<float>(
        std::isnan(value) ? value : checked_standardised(reader, cols.targets[d], c.y_scaler, static_cast<int>(d), value));
  }
  if (missing) chunk.y_std.col(n).setZero();
  chunk.target_missing.push_back(missing ? 1 : 0);
}

}  // namespace


std::string weight_column(const Checkpoint& c) {
  const auto it = c.training.find("weight");
  return it != c.training.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool read_chunk(CsvReader& reader, const Checkpoint& c, const InputColumns& cols, int max_rows,
                std::size_t first_row, InputChunk& chunk, EncodingCounts& counts) {
  const Eigen::Index dx = c.architecture.x_dim;
  const Eigen::Index dy = static_cast<Eigen::Index>(cols.targets.size());
  chunk.first_row = first_row;
  chunk.kept.clear();
  chunk.streams.clear();
  chunk.outside.clear();
  chunk.weights.clear();
  chunk.target_missing.clear();
  chunk.feature_missing.clear();
  // Filled in place, column by column, in blocks that double as rows arrive (a file of a
  // few very wide rows must not reserve max_rows columns), then trimmed to the rows read.
  const auto reserve = [&](Eigen::Index columns) {
    chunk.x_std.conservativeResize(dx, columns);
    if (cols.has_targets) {
      chunk.y.conservativeResize(dy, columns);
      chunk.y_std.conservativeResize(dy, columns);
    }
  };
  reserve(std::min<Eigen::Index>(max_rows, 64));
  std::vector<double> raw(cols.features.size());
  Eigen::Index n = 0;
  std::size_t kept_bytes = 0;
  while (n < max_rows && reader.next()) {
    if (n == chunk.x_std.cols()) reserve(std::min<Eigen::Index>(max_rows, 2 * n));
    read_raw_features(reader, c, cols, raw, counts);
    chunk.feature_missing.push_back(std::any_of(raw.begin(), raw.end(), [](double v) { return std::isnan(v); }) ? 1 : 0);
    encode_row(c.feature_encoding, c.x_scaler, raw.data(), raw.size(), chunk.x_std.col(n).data(), &counts);
    chunk.streams.push_back(row_stream(raw.data(), static_cast<int>(raw.size())));
    chunk.outside.push_back(features_outside_training(c, raw.data()));
    if (cols.has_targets && cols.weight) {
      const double w = reader.number(*cols.weight);
      if (!(w >= 0)) {
        throw DataError(reader.location(*cols.weight) + ": column '" + reader.columns()[*cols.weight] +
                        "': a weight must be >= 0, found " + format_number(w));
      }
      chunk.weights.push_back(w);
    }
    if (cols.has_targets) read_targets(reader, c, cols, n, chunk);
    std::vector<std::string> kept;
    for (std::size_t k : cols.keep) {
      kept.emplace_back(reader.cell(k));
      kept_bytes += kept.back().size();
    }
    chunk.kept.push_back(std::move(kept));
    ++n;
    // A chunk also ends once its kept cells hold kMaxChunkKeptBytes: 1024 rows of 2 MB
    // cells were 2 GB. Results do not depend on where chunks end.
    if (kept_bytes >= kMaxChunkKeptBytes) break;
  }
  if (n < chunk.x_std.cols()) reserve(n);
  return n > 0;
}

std::size_t rows_outside(const InputChunk& chunk) {
  return static_cast<std::size_t>(std::count_if(chunk.outside.begin(), chunk.outside.end(), [](int k) { return k > 0; }));
}

void warn_extrapolation(std::ostream* log, const std::string& program, const ExtrapolationCounts& counts,
                        bool flag_column) {
  if (log == nullptr || (counts.outside == 0 && counts.low_ess == 0)) return;
  *log << program << ": warning: of " << counts.rows << " rows, " << counts.outside
       << " have features outside the training range and " << counts.low_ess
       << " a very low effective sample size (below " << format_number(kLowEss)
       << "): their predictions are extrapolations and their spread is not to be trusted";
  if (!flag_column) *log << " (--flag-extrapolation marks them)";
  *log << "\n";
}

int task_count(int rows, int rows_per_task) { return (rows + rows_per_task - 1) / rows_per_task; }

void run_tasks(ThreadPool& pool, int rows, int per_task, const std::function<void(const TaskRows&)>& task) {
  pool.run(static_cast<std::size_t>(task_count(rows, per_task)), [&](std::size_t t) {
    TaskRows r;
    r.index = t;
    r.begin = static_cast<int>(t) * per_task;
    r.count = std::min(per_task, rows - r.begin);
    task(r);
  });
}

Matrix<float> task_features(const InputChunk& chunk, const TaskRows& rows) {
  return chunk.x_std.middleCols(rows.begin, rows.count);
}

std::vector<std::uint64_t> task_streams(const InputChunk& chunk, const TaskRows& rows) {
  return std::vector<std::uint64_t>(chunk.streams.begin() + rows.begin, chunk.streams.begin() + rows.begin + rows.count);
}

}  // namespace ebm
