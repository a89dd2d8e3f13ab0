// The tools' pictures as SVG documents (see svg.h): the predicted density p(y|x) of a
// one-feature, one-target model as a heat map (ebm-predict --plot), the training history
// (ebm-train --plot-history) and a calibration report (ebm-predict --report).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "ebm/checkpoint.h"
#include "ebm/model.h"
#include "ebm/training.h"

namespace ebm {

struct DensityPlot {
  std::string x_name, y_name;
  std::vector<double> x;          // grid columns, original units
  std::vector<double> y;          // grid rows, original units, increasing
  Eigen::MatrixXd density;        // y.size() x x.size(): p(y|x) per original unit of y
  std::vector<double> mean, lo, hi;  // per grid column: predictive mean and central interval
  double interval = 0.9;
  std::vector<std::pair<double, double>> points;  // observed (x, y), may be empty
};

// Evaluates a one-feature, one-target model on an nx x ny grid over [x_lo, x_hi] x
// [y_lo, y_hi] (original units; a NaN y bound is chosen from the predicted 0.5% and
// 99.5% quantiles and the points, padded by 5%). The density at (x, y) is
// exp(f(x, y) - log Z(x)) / scale_y with log Z from self-normalised importance sampling
// with `samples` proposal draws, the same estimate ebm-predict --logpdf reports.
// Why a model cannot be drawn ("" if it can): "a model with one feature and one target;
// NAME has ..." or "a numeric feature; ...", to follow "--plot needs ".
std::string density_plot_refusal(const Checkpoint& checkpoint, const std::string& name);
DensityPlot compute_density_plot(const Checkpoint& checkpoint, double x_lo, double x_hi, double y_lo, double y_hi,
                                 int nx, int ny, double interval, int samples, std::uint64_t seed,
                                 std::vector<std::pair<double, double>> points = {});

// Heat map (square-root colour scale, so that a secondary mode stays visible), the mean
// line, the interval band and the points.
std::string density_plot_svg(const DensityPlot& plot);

// Training objective per epoch (top panel) and the NLLs per epoch in nats (bottom panel:
// validation NLL of the EBM, proposal NLL on training and validation rows), with the kept
// (best) epoch marked. `log_jacobian` converts standardised-unit NLLs to original units.
std::string history_plot_svg(const std::vector<EpochRecord>& history, int best_epoch, double log_jacobian,
                             const std::string& method);

// Calibration curve (observed vs nominal coverage of central intervals at levels
// 0.05, 0.10, ..., 0.95, 0.99, one line per target, and the diagonal) and the PIT
// histogram (20 bins, pooled over targets, with the uniform density) from fine PIT counts
// (PredictSummary::pit_counts).
std::string calibration_report_svg(const std::vector<std::string>& targets,
                                   const std::vector<std::vector<long>>& pit_counts, std::size_t rows);

}  // namespace ebm
