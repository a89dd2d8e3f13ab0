// ebm-sample: read chunk -> importance-sample and resample each task's rows -> write the
// draws in the user's units, one output row per draw.
#include <algorithm>
#include <optional>

#include "ebm/commands.h"
#include "ebm/ensemble.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/input_chunks.h"
#include "ebm/output_file.h"
#include "ebm/progress.h"

namespace ebm {

namespace {

// Draws held per chunk at most, unless one row's draws are more.
constexpr int kMaxChunkDraws = 1 << 20;

void validate(const SampleOptions& o) {
  if (o.draws < 1) throw UsageError("-n must be at least 1");
  if (o.langevin_steps < 0) throw UsageError("--langevin-steps must be >= 0");
  if (!(o.langevin_step > 0)) throw UsageError("--langevin-step must be positive");
  if (o.threads < 1) throw UsageError("--threads must be at least 1");
  check_unique_names(o.keep, "--keep");
}

// Draws for the rows of one task into their columns of `draws` (y_dim x R*N, standardised).
void sample_task(const SampleOptions& o, const Checkpoint& c, const std::vector<Member>& members,
                 int proposal_samples, const InputChunk& chunk,
                 const TaskRows& rows, Matrix<float>& draws, std::size_t& low_ess_rows) {
  const std::uint64_t first = chunk.first_row + static_cast<std::uint64_t>(rows.begin);
  const std::vector<std::uint64_t> streams = task_streams(chunk, rows);
  const EnsembleSample es = ensemble_importance_sample(members, task_features(chunk, rows), proposal_samples,
                                                       o.seed, first, &streams, standardised_support(c));
  for (double ess : es.combined().ess) low_ess_rows += low_ess(ess, proposal_samples) ? 1 : 0;
  draws.middleCols(static_cast<Eigen::Index>(rows.begin) * o.draws, static_cast<Eigen::Index>(rows.count) * o.draws) =
      ensemble_resample(members, es, o.draws, o.langevin_steps, o.langevin_step, o.seed, first, &streams);
}

void write_draws(const SampleOptions& o, const Checkpoint& c, const InputChunk& chunk, const Matrix<float>& draws,
                 CsvWriter& writer) {
  for (int r = 0; r < chunk.rows(); ++r) {
    for (int i = 0; i < o.draws; ++i) {
      writer.field(std::to_string(chunk.first_row + r));
      writer.field(std::to_string(i));
      for (const auto& kept : chunk.kept[r]) writer.field(kept);
      for (int d = 0; d < c.architecture.y_dim; ++d) {
        const double y = c.y_scaler.to_original(d, draws(d, static_cast<Eigen::Index>(r) * o.draws + i));
        writer.field(o.on_lattice ? snap_to_lattice(c, d, y) : y);
      }
      if (o.flag_extrapolation) writer.field(std::to_string(chunk.outside[r]));
      writer.end_row();
    }
  }
}

}  // namespace

std::size_t run_sample(const SampleOptions& o) {
  validate(o);
  check_distinct_files({{"-m", o.model_path}, {"DATA", o.data_path}}, {{"-o", o.output_path}});
  const int proposal_samples = o.proposal_samples > 0 ? o.proposal_samples : std::max(1024, 4 * o.draws);
  const Checkpoint c = load_checkpoint(o.model_path);
  if (o.on_lattice) require_lattice_target(c, o.model_path);
  const std::vector<Member> members = ensemble_members(c);
  CsvReader reader(o.data_path, o.csv);
  InputColumns cols = resolve_columns(reader, c, o.keep, false, "");
  cols.has_targets = false;  // sampling never uses the targets: a blank target cell is no error
  cols.weight.reset();  // weights are for metrics
  OutputFile out(o.output_path);
  CsvWriter writer(out.stream(), o.output_csv, o.precision);
  std::vector<std::string> header{"row", "sample"};
  header.insert(header.end(), o.keep.begin(), o.keep.end());
  header.insert(header.end(), c.targets.begin(), c.targets.end());
  if (o.flag_extrapolation) header.push_back("outside_training");
  HeaderOnce header_once(writer, header);
  ThreadPool pool(o.threads);
  const int per_task = rows_per_task(std::max(proposal_samples, o.draws));
  // Rows per chunk: at least a task's worth, 256 if the draws allow, but no more than
  // kMaxChunkDraws draws in all (256 rows x 16 million draws held 16 GB of floats).
  const int chunk_rows = std::max(per_task, std::min(256, std::max(1, kMaxChunkDraws / o.draws)));
  std::size_t rows_done = 0;
  std::optional<RowProgress> progress(std::in_place, o.progress);  // reset (line erased) before the warning
  ExtrapolationCounts flags;
  InputChunk chunk;
  EncodingCounts counts;
  while (read_chunk(reader, c, cols, chunk_rows, rows_done, chunk, counts)) {
    Matrix<float> draws(c.architecture.y_dim, static_cast<Eigen::Index>(chunk.rows()) * o.draws);
    std::vector<std::size_t> task_low_ess(static_cast<std::size_t>(task_count(chunk.rows(), per_task)), 0);
    run_tasks(pool, chunk.rows(), per_task, [&](const TaskRows& rows) {
      sample_task(o, c, members, proposal_samples, chunk, rows, draws, task_low_ess[rows.index]);
    });
    for (std::size_t n : task_low_ess) flags.low_ess += n;
    flags.rows += static_cast<std::size_t>(chunk.rows());
    flags.outside += rows_outside(chunk);
    header_once.write();
    write_draws(o, c, chunk, draws, writer);
    rows_done += static_cast<std::size_t>(chunk.rows());
    progress->update(rows_done);
  }
  header_once.write();
  out.commit();
  progress.reset();
  if (o.warnings != nullptr) *o.warnings << counts.warnings("ebm-sample", c.features);
  warn_extrapolation(o.warnings, "ebm-sample", flags, o.flag_extrapolation);
  return rows_done;
}

}  // namespace ebm
