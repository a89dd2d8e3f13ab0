// The input side of ebm-predict and ebm-sample: the model's columns found in a CSV header,
// rows read in chunks and put into the model's standardised units, and the split of a chunk
// into tasks for the thread pool.
//
// Every value the model sees is standardised here, once (x and, when present, y); the
// outputs go back to the user's units through the checkpoint's Standardizer where they are
// written. Each row's random stream comes from its feature values (row_stream), so a row
// gets the same draws wherever it appears.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ebm/checkpoint.h"
#include "ebm/csv.h"
#include "ebm/thread_pool.h"

namespace ebm {

struct InputColumns {
  std::vector<std::size_t> features, targets, keep;
  bool has_targets = false;  // every target column is in the input (and is read)
  // The checkpoint's --weight column (training record), when the input has it and the
  // targets are read: the rows' weights for the metrics.
  std::optional<std::size_t> weight;
};

// Finds the checkpoint's features (required), its targets (required only if
// targets_required; `why` names the option that needs them) and the --keep columns.
InputColumns resolve_columns(const CsvReader& reader, const Checkpoint& checkpoint, const std::vector<std::string>& keep,
                             bool targets_required, const std::string& why);

// Refuses (UsageError) a name given twice to `option` (--keep a,a would give two output
// columns of the same name).
void check_unique_names(const std::vector<std::string>& names, const std::string& option);

// One chunk of R input rows.
struct InputChunk {
  std::size_t first_row = 0;                   // index of the chunk's first row in the input
  Matrix<float> x_std;                         // x_dim x R, standardised and encoded
  Eigen::MatrixXd y;                           // y_dim x R, user's units (if has_targets)
  Matrix<float> y_std;                         // y_dim x R, standardised (if has_targets; 0 where missing)
  std::vector<char> feature_missing;           // R: some numeric feature of the row is missing
  std::vector<char> target_missing;            // R (if has_targets): some target cell of the row is missing
  std::vector<std::vector<std::string>> kept;  // R x keep
  std::vector<std::uint64_t> streams;          // R: random stream of each row (from its features)
  std::vector<int> outside;                    // R: features outside the training range (0 without a range)
  std::vector<double> weights;                 // R: the rows' weights (if columns.weight), finite and >= 0
  int rows() const { return static_cast<int>(x_std.cols()); }
};

// The checkpoint's weight column (its training record's "weight"; "" if none).
std::string weight_column(const Checkpoint& checkpoint);

// Text of the --keep cells a chunk holds at most (plus one row): a chunk ends early when
// its kept cells reach it.
constexpr std::size_t kMaxChunkKeptBytes = std::size_t{1} << 24;

// Reads up to max_rows rows into `chunk` (fewer once their kept cells hold
// kMaxChunkKeptBytes), its features encoded for the network (feature_encoding.h); false
// when the input had no more rows. Missing feature values without an indicator and
// unknown categorical levels are added to `counts`.
bool read_chunk(CsvReader& reader, const Checkpoint& checkpoint, const InputColumns& columns, int max_rows,
                std::size_t first_row, InputChunk& chunk, EncodingCounts& counts);

// Rows whose predictions rest on thin ground: features outside the training range, or an
// effective sample size so low that the estimates come from a handful of proposal draws.
struct ExtrapolationCounts {
  std::size_t rows = 0, outside = 0, low_ess = 0;
  void merge(const ExtrapolationCounts& other) {
    rows += other.rows;
    outside += other.outside;
    low_ess += other.low_ess;
  }
};
// An ESS below this (or below a quarter of the proposal samples, for small M) is "very low".
constexpr double kLowEss = 10.0;
inline bool low_ess(double ess, int samples) { return ess < std::min(kLowEss, 0.25 * samples); }
// The chunk's rows outside the training range.
std::size_t rows_outside(const InputChunk& chunk);
// One warning line on `log` (nothing when null or nothing to say): how many rows lie outside
// the training range, and how many have a very low ESS.
void warn_extrapolation(std::ostream* log, const std::string& program, const ExtrapolationCounts& counts,
                        bool flag_column);

// Rows [begin, begin + count) of a chunk, handled by task `index`.
struct TaskRows {
  std::size_t index = 0;
  int begin = 0, count = 0;
};

// Rows per task when each row carries `columns_per_row` candidate columns (kTaskColumns
// per task): depends on sizes only, never on the thread count.
inline int rows_per_task(int columns_per_row) { return std::max(1, kTaskColumns / columns_per_row); }
int task_count(int rows, int rows_per_task);
// Runs task(TaskRows) for every task of a chunk of `rows` rows on the pool.
void run_tasks(ThreadPool& pool, int rows, int rows_per_task, const std::function<void(const TaskRows&)>& task);

// The chunk's standardised features and random streams of a task's rows.
Matrix<float> task_features(const InputChunk& chunk, const TaskRows& rows);
std::vector<std::uint64_t> task_streams(const InputChunk& chunk, const TaskRows& rows);

// A CSV header written once: with the first chunk, or at the end for an input without
// rows, so that an input that fails in its first chunk leaves standard output empty.
class HeaderOnce {
 public:
  HeaderOnce(CsvWriter& writer, std::vector<std::string> header) : writer_(writer), header_(std::move(header)) {}
  void write() {
    if (!written_) writer_.write_row(header_);
    written_ = true;
  }

 private:
  CsvWriter& writer_;
  std::vector<std::string> header_;
  bool written_ = false;
};

}  // namespace ebm
