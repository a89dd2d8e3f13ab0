#include "ebm/input_chunks.h"

#include <algorithm>
#include <cmath>

#include "ebm/errors.h"
#include "ebm/inference.h"

namespace ebm {

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

namespace {

// The raw value of each feature of the current record (feature_encoding.h): numbers, NaN
// for a missing cell, level codes of categorical features (unknown levels counted).
void read_raw_features(const CsvReader& reader, const Checkpoint& c, const InputColumns& cols,
                       std::vector<double>& raw, EncodingCounts& counts) {
  for (std::size_t j = 0; j < cols.features.size(); ++j) {
    const std::size_t column = cols.features[j];
    if (!is_categorical(c.feature_encoding, j)) {
      raw[j] = reader.number_or_missing(column);
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
    chunk.y(i, n) = reader.number_or_missing(cols.targets[d]);
    missing = missing || std::isnan(chunk.y(i, n));
    chunk.y_std(i, n) = static_cast<float>(c.y_scaler.to_standard(static_cast<int>(d), chunk.y(i, n)));
  }
  if (missing) chunk.y_std.col(n).setZero();
  chunk.target_missing.push_back(missing ? 1 : 0);
}

}  // namespace

bool read_chunk(CsvReader& reader, const Checkpoint& c, const InputColumns& cols, int max_rows,
                std::size_t first_row, InputChunk& chunk, EncodingCounts& counts) {
  const Eigen::Index dx = c.architecture.x_dim;
  const Eigen::Index dy = static_cast<Eigen::Index>(cols.targets.size());
  chunk.first_row = first_row;
  chunk.kept.clear();
  chunk.streams.clear();
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
  while (n < max_rows && reader.next()) {
    if (n == chunk.x_std.cols()) reserve(std::min<Eigen::Index>(max_rows, 2 * n));
    read_raw_features(reader, c, cols, raw, counts);
    chunk.feature_missing.push_back(std::any_of(raw.begin(), raw.end(), [](double v) { return std::isnan(v); }) ? 1 : 0);
    encode_row(c.feature_encoding, c.x_scaler, raw.data(), raw.size(), chunk.x_std.col(n).data(), &counts);
    chunk.streams.push_back(row_stream(raw.data(), static_cast<int>(raw.size())));
    if (cols.has_targets) read_targets(reader, c, cols, n, chunk);
    std::vector<std::string> kept;
    for (std::size_t k : cols.keep) kept.emplace_back(reader.cell(k));
    chunk.kept.push_back(std::move(kept));
    ++n;
  }
  if (n < chunk.x_std.cols()) reserve(n);
  return n > 0;
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
