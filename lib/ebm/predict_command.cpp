// ebm-predict: read chunk -> importance-sample each task's rows -> estimators -> write rows,
// with metrics, the density picture and the calibration report gathered on the way.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "ebm/commands.h"
#include "ebm/ensemble.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/input_chunks.h"
#include "ebm/metrics.h"
#include "ebm/output_file.h"
#include "ebm/plots.h"
#include "ebm/progress.h"
#include "ebm/rng.h"
#include "ebm/streams.h"

namespace ebm {

namespace {

void validate(const PredictOptions& o) {
  if (o.samples < 2) throw UsageError("--samples must be at least 2");
  for (std::size_t l = 0; l < o.intervals.size(); ++l) {
    const double level = o.intervals[l];
    if (!(level > 0 && level < 1)) throw UsageError("--interval: each level must be in (0, 1), found " + format_number(level));
    for (std::size_t k = 0; k < l; ++k) {
      if (o.intervals[k] == level) throw UsageError("--interval: the level " + format_number(level) + " is listed twice");
    }
  }
  for (std::size_t i = 0; i < o.quantiles.size(); ++i) {
    const double q = o.quantiles[i];
    if (!(q > 0 && q < 1)) throw UsageError("--quantiles: each level must be in (0, 1), found " + format_number(q));
    // Two equal levels would give two columns of the same name.
    if (std::find(o.quantiles.begin(), o.quantiles.begin() + static_cast<std::ptrdiff_t>(i), q) !=
        o.quantiles.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw UsageError("--quantiles: level " + format_number(q) + " is given twice");
    }
  }
  check_unique_names(o.keep, "--keep");
  if (o.mode_steps < 0) throw UsageError("--mode-steps must be >= 0");
  if (o.threads < 1) throw UsageError("--threads must be at least 1");
  // Standard output carries one stream: the predictions, or (with -o FILE) one side file.
  std::vector<std::string> to_stdout;
  for (const auto& [option, path] : {std::pair<std::string, std::string>{"-o", o.output_path},
                                     {"--metrics", o.metrics_path}, {"--plot", o.plot_path}, {"--report", o.report_path}}) {
    if (path == "-") to_stdout.push_back(option);
  }
  if (to_stdout.size() > 1) {
    throw UsageError(to_stdout[1] + " - would mix its output into " +
                     (to_stdout[0] == "-o" ? std::string("the CSV predictions") : to_stdout[0] + "'s") +
                     " on standard output; write one of them to a file (e.g. -o pred.csv)");
  }
}

// The columns of a prediction row: the kept input columns, then per target mean, std,
// [lo, hi per interval level], [q<level>...], [mode], then [log_density], [ess],
// [outside_training]. One
// interval level gives T_lo, T_hi; several give T_lo<level>, T_hi<level> for each.
struct OutputLayout {
  const PredictOptions& o;
  int targets;

  int per_target() const {
    return 2 + 2 * static_cast<int>(o.intervals.size()) + static_cast<int>(o.quantiles.size()) + (o.mode ? 1 : 0);
  }
  int value_columns() const {
    return targets * per_target() + (o.logpdf ? 1 : 0) + (o.ess ? 1 : 0) + (o.flag_extrapolation ? 1 : 0);
  }
  std::vector<std::string> header(const std::vector<std::string>& target_names) const {
    std::vector<std::string> header(o.keep.begin(), o.keep.end());
    for (const auto& t : target_names) {
      header.push_back(t + "_mean");
      header.push_back(t + "_std");
      for (double level : o.intervals) {
        const std::string suffix = o.intervals.size() > 1 ? format_number(level) : "";
        header.push_back(t + "_lo" + suffix);
        header.push_back(t + "_hi" + suffix);
      }
      for (double q : o.quantiles) header.push_back(t + "_q" + format_number(q));
      if (o.mode) header.push_back(t + "_mode");
    }
    if (o.logpdf) header.push_back("log_density");
    if (o.ess) header.push_back("ess");
    if (o.flag_extrapolation) header.push_back("outside_training");
    return header;
  }
};

// Everything a task needs to predict its rows.
struct PredictContext {
  const PredictOptions& o;
  const Checkpoint& c;
  const std::vector<Member>& members;  // the ensemble's (one for a single model)
  OutputLayout layout;
  bool has_targets;
  std::vector<double> levels;  // of the intervals written and of the coverage metrics (at least one)
  TargetSupport support;  // standardised; empty for a version 1 checkpoint
};

// The row's weight for the metrics (1 without a weight column).
double row_weight(const InputChunk& chunk, int chunk_row) {
  return chunk.weights.empty() ? 1.0 : chunk.weights[static_cast<std::size_t>(chunk_row)];
}

// The estimates of target d of row e, written from column k of `column` on (user's units),
// and its scores against the observed value when the targets are known.
template <typename Column>
void write_target_estimates(const PredictContext& ctx, const ImportanceSample& is, const Matrix<float>& modes,
                            const InputChunk& chunk, int chunk_row, int e, int d, Column& column, int& k,
                            MetricSums& sums) {
  const PredictOptions& o = ctx.o;
  const Standardizer& ys = ctx.c.y_scaler;
  const Moments moments = weighted_moments(is, e, d);
  const double mean = ys.to_original(d, moments.mean);
  column(k++) = mean;
  column(k++) = moments.std * ys.scale[d];
  SortedDraws draws;
  if (!o.intervals.empty() || ctx.has_targets || !o.quantiles.empty()) draws = sort_draws(is, e, d);
  // The tau-quantile in the user's units (on the lattice with --on-lattice).
  const auto quantile = [&](double tau) {
    const double value = ys.to_original(d, weighted_quantile(draws, tau));
    return o.on_lattice ? snap_to_lattice(ctx.c, d, value) : value;
  };
  TargetScore score;
  if (ctx.has_targets) score.observed = chunk.y(d, chunk_row);
  for (double level : ctx.levels) {
    if (o.intervals.empty() && !ctx.has_targets) break;
    const double lo = quantile(0.5 * (1 - level));
    const double hi = quantile(0.5 * (1 + level));
    if (!o.intervals.empty()) {
      column(k++) = lo;
      column(k++) = hi;
    }
    if (ctx.has_targets) score.covered.push_back(score.observed >= lo && score.observed <= hi);
  }
  for (double q : o.quantiles) column(k++) = quantile(q);
  if (o.mode) {
    const double mode = ys.to_original(d, modes(d, e));
    column(k++) = o.on_lattice ? snap_to_lattice(ctx.c, d, mode) : mode;
  }
  if (!ctx.has_targets || chunk.target_missing[chunk_row]) return;
  score.mean = mean;
  const double observed_std = ys.to_standard(d, score.observed);
  score.crps = weighted_crps(draws, observed_std);
  score.scale = ys.scale[d];
  // The reported levels' intervals, computed as --interval computes lo and hi (metrics.h).
  for (int k = 0; k < kReportedLevelCount; ++k) {
    const double level = kReportedCoverageLevels[k];
    score.covered_at[k] = score.observed >= quantile(0.5 * (1 - level)) && score.observed <= quantile(0.5 * (1 + level));
  }
  score.pit = weighted_pit(draws, observed_std);
  sums.add(d, score, row_weight(chunk, chunk_row));
}

// For a one-dimensional lattice target: the probability of the observed value's cell.
void add_cell_probabilities(const PredictContext& ctx, const EnsembleSample& es, const InputChunk& chunk,
                            int chunk_row, int e, MetricSums& sums) {
  if (ctx.c.architecture.y_dim != 1 || ctx.c.y_lattice.empty() || !ctx.c.y_lattice[0].discrete()) return;
  const Standardizer& ys = ctx.c.y_scaler;
  const Lattice& lattice = ctx.c.y_lattice[0];
  const double observed = ys.to_standard(0, lattice.snap(chunk.y(0, chunk_row)));
  sums.add_cell_log_probability(
      ensemble_cell_log_probability(ctx.members, es, e, observed, 0.5 * lattice.step / ys.scale[0]),
      row_weight(chunk, chunk_row));
}

// Predicts the rows of one task into their columns of `values` (value_columns x R).
void predict_task(const PredictContext& ctx, const InputChunk& chunk, const TaskRows& rows, Eigen::MatrixXd& values,
                  MetricSums& sums, ExtrapolationCounts& flags) {
  const PredictOptions& o = ctx.o;
  const std::vector<std::uint64_t> streams = task_streams(chunk, rows);
  // Estimators read the mixture's weighted candidates; densities and modes need the members.
  const EnsembleSample es =
      ensemble_importance_sample(ctx.members, task_features(chunk, rows), o.samples, o.seed,
                                 chunk.first_row + static_cast<std::size_t>(rows.begin), &streams, ctx.support);
  const ImportanceSample& is = es.combined();
  Matrix<float> modes;
  if (o.mode) modes = ensemble_modes(ctx.members, es, o.mode_steps, 0.1);
  std::vector<double> log_densities;  // user's units
  if (ctx.has_targets) {
    const double log_jacobian = ctx.c.y_scaler.log_jacobian();
    log_densities = ensemble_log_density(ctx.members, es, chunk.y_std.middleCols(rows.begin, rows.count));
    for (double& lp : log_densities) lp -= log_jacobian;
  }
  for (int e = 0; e < rows.count; ++e) {
    auto column = values.col(rows.begin + e);
    int k = 0;
    for (int d = 0; d < ctx.c.architecture.y_dim; ++d) {
      write_target_estimates(ctx, is, modes, chunk, rows.begin + e, e, d, column, k, sums);
    }
    // A row without its target is predicted but not scored: its log_density is left empty.
    const bool scored = ctx.has_targets && !chunk.target_missing[rows.begin + e];
    if (scored) {
      sums.add_log_density(log_densities[e], row_weight(chunk, rows.begin + e));
      add_cell_probabilities(ctx, es, chunk, rows.begin + e, e, sums);
      sums.add_ess(is.ess[e]);
    } else if (!ctx.has_targets) {
      sums.add_ess(is.ess[e]);
    }
    flags.low_ess += low_ess(is.ess[e], o.samples) ? 1 : 0;
    if (o.logpdf) column(k++) = scored ? log_densities[e] : std::numeric_limits<double>::quiet_NaN();
    if (o.ess) column(k++) = is.ess[e];
    if (o.flag_extrapolation) column(k++) = chunk.outside[rows.begin + e];
  }
}

// --plot's inputs: the range of x, and up to kMaxPoints observed points kept by reservoir
// sampling with a fixed generator (the same input gives the same picture).
class PlotInputs {
 public:
  static constexpr std::size_t kMaxPoints = 2000;
  explicit PlotInputs(std::uint64_t seed) : rng_(seed, streams::kPlotPointsStream) {}

  void add(const InputChunk& chunk, const Standardizer& x_scaler, bool has_targets, std::size_t rows_before) {
    for (int r = 0; r < chunk.rows(); ++r) {
      if (chunk.feature_missing[r]) continue;  // no x to draw it at
      const double x = x_scaler.to_original(0, chunk.x_std(0, r));
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      if (!has_targets || chunk.target_missing[r]) continue;
      const std::size_t seen = rows_before + static_cast<std::size_t>(r);
      const std::pair<double, double> point{x, chunk.y(0, r)};
      if (seen < kMaxPoints) {
        points.push_back(point);
      } else {
        const std::uint64_t slot = rng_.below(seen + 1);
        if (slot < kMaxPoints) points[slot] = point;
      }
    }
  }

  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, double>> points;

 private:
  Rng rng_;
};

// The files ebm-predict writes besides its output: each opened before any work (an
// unwritable path fails at once) and renamed only when every file is complete.
struct SideFiles {
  std::optional<OutputFile> metrics, plot, report;
  explicit SideFiles(const PredictOptions& o) {
    if (!o.metrics_path.empty()) metrics.emplace(o.metrics_path);
    if (!o.plot_path.empty()) plot.emplace(o.plot_path);
    if (!o.report_path.empty()) report.emplace(o.report_path);
  }
};

void check_plot_model(const PredictOptions& o, const Checkpoint& c) {
  if (o.plot_path.empty()) return;
  const std::string refusal = density_plot_refusal(c, o.model_path);
  if (!refusal.empty()) throw UsageError("--plot needs " + refusal);
}

InputColumns predict_columns(const PredictOptions& o, const CsvReader& reader, const Checkpoint& c) {
  const bool want_metrics = !o.metrics_path.empty(), want_report = !o.report_path.empty();
  InputColumns cols = resolve_columns(reader, c, o.keep, want_metrics || o.logpdf || want_report,
                                      want_metrics ? "--metrics" : want_report ? "--report" : "--logpdf");
  // Target cells are read only when something uses them: a blank target column in a file
  // to be predicted is normal. (--plot draws the observed points when they are there.)
  cols.has_targets = cols.has_targets && (want_metrics || o.logpdf || o.evaluate || !o.plot_path.empty() || want_report);
  // The rows' weights count only in the metrics.
  if (!cols.has_targets || !(want_metrics || o.evaluate)) cols.weight.reset();
  return cols;
}

// One warning line per kind of silent replacement in the input (unless -q).
void report_input_warnings(const PredictOptions& o, const Checkpoint& c, const EncodingCounts& counts,
                           const PredictSummary& summary) {
  if (o.warnings == nullptr) return;
  *o.warnings << counts.warnings("ebm-predict", c.features);
  if (summary.rows_without_target > 0) {
    *o.warnings << "ebm-predict: warning: " << summary.rows_without_target << " row(s) without a target value: "
           << "predicted, but without log_density and left out of the metrics\n";
  }
}

// Metrics from the summed scores; a file to write them to needs rows and finite values.
void finish_metrics(const PredictOptions& o, const Checkpoint& c, const CsvReader& reader, const InputColumns& cols,
                    const MetricSums& total, const std::vector<double>& levels, SideFiles& files,
                    PredictSummary& summary) {
  const std::size_t scored = summary.rows - summary.rows_without_target;
  if (!cols.has_targets || scored == 0) {
    if (files.metrics) {
      throw DataError(reader.source() + ": no data rows" + (summary.rows > 0 ? " with target values" : "") +
                      " to compute metrics on");
    }
    return;
  }
  const std::string weight = cols.weight ? reader.columns()[*cols.weight] : std::string();
  summary.metrics = total.to_json(c.targets, scored, levels, o.samples, o.seed, weight);
  if (summary.rows_without_target > 0) summary.metrics["rows_without_target"] = summary.rows_without_target;
  if (cols.weight && !(summary.metrics["weight_sum"].get<double>() > 0)) {
    throw DataError(reader.source() + ": the weights in column '" + weight + "' sum to 0: no weighted metrics");
  }
  summary.pit_counts = total.pit_counts();
  if (!files.metrics) return;
  for (const auto& item : summary.metrics.items()) {
    if (item.value().is_number_float() && !std::isfinite(item.value().get<double>())) {
      throw NumericalError("metric '" + item.key() + "' is not finite");
    }
  }
}

void write_side_files(const PredictOptions& o, const Checkpoint& c, const CsvReader& reader,
                      const PlotInputs& plot_inputs, const PredictSummary& summary, SideFiles& files) {
  if (files.plot) {
    if (summary.rows == 0) throw DataError(reader.source() + ": no data rows to plot");
    const DensityPlot plot = compute_density_plot(c, plot_inputs.x_lo, plot_inputs.x_hi, NAN, NAN, 120, 100,
                                                  o.intervals.empty() ? 0.9 : o.intervals[0], o.samples, o.seed,
                                                  plot_inputs.points);
    files.plot->stream() << density_plot_svg(plot);
  }
  if (files.report) {
    if (summary.pit_counts.empty()) throw DataError(reader.source() + ": no data rows for --report");
    files.report->stream() << calibration_report_svg(c.targets, summary.pit_counts, summary.rows);
  }
  if (files.metrics) {
    files.metrics->stream() << summary.metrics.dump(2) << '\n';
    files.metrics->finish();
  }
  if (files.plot) files.plot->finish();
  if (files.report) files.report->finish();
}

}  // namespace

PredictSummary run_predict(const PredictOptions& o) {
  validate(o);
  check_distinct_files({{"-m", o.model_path}, {"DATA", o.data_path}},
                       {{"-o", o.output_path}, {"--metrics", o.metrics_path}, {"--plot", o.plot_path},
                        {"--report", o.report_path}});
  const Checkpoint c = load_checkpoint(o.model_path);
  if (o.on_lattice) require_lattice_target(c, o.model_path);
  check_plot_model(o, c);
  CsvReader reader(o.data_path, o.csv);
  const InputColumns cols = predict_columns(o, reader, c);
  SideFiles files(o);
  OutputFile out(o.output_path);
  CsvWriter writer(out.stream(), o.output_csv, o.precision);
  const std::vector<Member> members = ensemble_members(c);
  const PredictContext ctx{o, c, members, OutputLayout{o, c.architecture.y_dim}, cols.has_targets,
                           o.intervals.empty() ? std::vector<double>{o.metrics_interval} : o.intervals,
                           standardised_support(c)};
  const int levels = static_cast<int>(ctx.levels.size());
  HeaderOnce header(writer, ctx.layout.header(c.targets));
  PlotInputs plot_inputs(o.seed);
  MetricSums total(c.architecture.y_dim, levels);
  ThreadPool pool(o.threads);
  const int per_task = rows_per_task(o.samples);
  PredictSummary summary;
  std::optional<RowProgress> progress(std::in_place, o.progress);  // reset (line erased) before the warning
  InputChunk chunk;
  EncodingCounts counts;
  while (read_chunk(reader, c, cols, o.chunk_rows, summary.rows, chunk, counts)) {
    const int n = chunk.rows();
    Eigen::MatrixXd values(ctx.layout.value_columns(), n);
    const auto tasks = static_cast<std::size_t>(task_count(n, per_task));
    std::vector<MetricSums> task_sums(tasks, MetricSums(c.architecture.y_dim, levels));
    std::vector<ExtrapolationCounts> task_flags(tasks);
    run_tasks(pool, n, per_task, [&](const TaskRows& rows) {
      predict_task(ctx, chunk, rows, values, task_sums[rows.index], task_flags[rows.index]);
    });
    for (const MetricSums& s : task_sums) total.merge(s);  // in task order: independent of threads
    for (const ExtrapolationCounts& f : task_flags) summary.extrapolation.merge(f);
    summary.extrapolation.rows += static_cast<std::size_t>(n);
    summary.extrapolation.outside += rows_outside(chunk);
    if (files.plot) plot_inputs.add(chunk, c.x_scaler, cols.has_targets, summary.rows);
    header.write();
    for (int r = 0; r < n; ++r) {
      for (const auto& kept : chunk.kept[r]) writer.field(kept);
      for (Eigen::Index k = 0; k < values.rows(); ++k) {
        if (std::isnan(values(k, r))) {
          writer.field(std::string_view{});  // a value that does not exist (no target): an empty cell
        } else {
          writer.field(values(k, r));
        }
      }
      writer.end_row();
    }
    summary.rows += static_cast<std::size_t>(n);
    if (cols.has_targets) {
      summary.rows_without_target +=
          static_cast<std::size_t>(std::count(chunk.target_missing.begin(), chunk.target_missing.end(), 1));
    }
    progress->update(summary.rows);
  }
  header.write();
  finish_metrics(o, c, reader, cols, total, ctx.levels, files, summary);
  write_side_files(o, c, reader, plot_inputs, summary, files);
  // Renamed only once every file is complete and written: a failed run leaves none.
  out.commit();
  if (files.metrics) files.metrics->commit();
  if (files.plot) files.plot->commit();
  if (files.report) files.report->commit();
  progress.reset();
  report_input_warnings(o, c, counts, summary);
  warn_extrapolation(o.warnings, "ebm-predict", summary.extrapolation, o.flag_extrapolation);
  return summary;
}

}  // namespace ebm
