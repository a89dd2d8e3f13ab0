// Test-time computations on standardised data: self-normalised importance sampling (SNIS)
// with the learned proposal, log-density estimates, mode search by gradient ascent and
// importance resampling with optional Langevin (MALA) refinement.
//
// For an input row x with proposal draws y_1..y_M ~ q(.|x):
//   log w_m = f(x, y_m) - log q(y_m|x),   w_bar = softmax(log w)
//   E_p[g(y)] ~= sum_m w_bar_m g(y_m)
//   log Z(x) ~= LSE_m(log w_m) - log M,   log p(y|x) ~= f(x, y) - log Z(x)
// Random numbers come from a stream per input row (seed, row index), so results do not
// depend on chunking or thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "ebm/model.h"

namespace ebm {

// SNIS state for a block of E rows.
struct ImportanceSample {
  int rows = 0, samples = 0, y_dim = 0;
  Matrix<float> hx;            // H x E
  MdnOutput<float> proposal;   // q(.|x) per row
  Matrix<float> y;             // y_dim x (E*M), samples of row e in columns e*M .. e*M+M-1
  Matrix<double> log_q;        // M x E
  Matrix<double> energy;       // M x E
  Matrix<double> weights;      // M x E, normalised per column
  std::vector<double> log_z;   // E: estimate of log Z(x) (standardised units)
  std::vector<double> ess;     // E: effective sample size 1 / sum w^2
};

// Draws M proposal samples per row of x_std (x_dim x E). Row e uses random stream
// streams[e] if given, else first_row + e; first_row (the global index of column 0)
// also names rows in error messages. Throws NumericalError on NaN.
ImportanceSample importance_sample(const EnergyModel& model, const ParamVector& params,
                                   const Matrix<float>& x_std, int samples, std::uint64_t seed,
                                   std::uint64_t first_row, const std::vector<std::uint64_t>* streams = nullptr);

// log p(y|x) estimates (standardised units) for observed targets y_std (y_dim x E).
std::vector<double> log_density(const EnergyModel& model, const ParamVector& params,
                                const ImportanceSample& is, const Matrix<float>& y_std);

// Self-normalised estimates of the mean and standard deviation of dimension `dim` for row
// `row` (standardised units): mean = sum_m w_m y_m, var = sum_m w_m (y_m - mean)^2.
struct Moments {
  double mean = 0, std = 0;
};
Moments weighted_moments(const ImportanceSample& is, int row, int dim);

// The draws of dimension d of row e in increasing order, with their weights (ties in
// draw order). Quantiles, CRPS and PIT all read this; sort once per row and dimension and
// query it many times (sorting was a third of ebm-predict's time when every quantile
// sorted again).
struct SortedDraws {
  std::vector<float> values;
  std::vector<double> weights;
};
SortedDraws sort_draws(const ImportanceSample& is, int row, int dim);

// Weighted quantile at probability level (0..1), with linear interpolation between sorted
// samples at the midpoints of their cumulative weights.
double weighted_quantile(const SortedDraws& draws, double level);
// CRPS of the weighted sample for an observed value:
//   CRPS = sum_m w_m |y_m - y| - 1/2 sum_{m,l} w_m w_l |y_m - y_l|, O(M) once sorted.
double weighted_crps(const SortedDraws& draws, double observed);
// Probability integral transform: sum_m w_m [y_m <= y].
double weighted_pit(const SortedDraws& draws, double observed);

// Conveniences for a single query (each sorts the row's draws).
double weighted_quantile(const ImportanceSample& is, int row, int dim, double level);
double weighted_crps(const ImportanceSample& is, int row, int dim, double observed);
double weighted_pit(const ImportanceSample& is, int row, int dim, double observed);

// Gradient ascent on f from the highest-energy sample of each row:
// y <- y + step * grad_y f; a step that lowers f is rejected and the step halved.
// Returns y_dim x E (standardised).
Matrix<float> find_modes(const EnergyModel& model, const ParamVector& params,
                         const ImportanceSample& is, int steps, double initial_step);

// N draws per row by importance resampling (systematic resampling of the weighted
// sample), then `langevin_steps` Metropolis-adjusted Langevin steps of size `step` on f.
// Returns y_dim x (E*N).
Matrix<float> resample(const EnergyModel& model, const ParamVector& params,
                       const ImportanceSample& is, int draws, int langevin_steps, double step,
                       std::uint64_t seed, std::uint64_t first_row,
                       const std::vector<std::uint64_t>* streams = nullptr);

// Random-stream id of an input row derived from its feature values: a row gets the same
// random numbers wherever it appears (whole file, a shard of it, another order), so
// sharded batch jobs reproduce the single-process output exactly.
std::uint64_t row_stream(const double* features, int count);

// Grid-normalised log-density for a one-dimensional target (method reference C.2):
//   log p(y|x) = f(x, y) - LSE_j f(x, y_j) + log N - log(hi - lo),
// with y_j = linspace(lo, hi, N) in the same (standardised) units as y_std. Returns one
// value per column of x_std / y_std. Exact up to the grid's quadrature error; used to
// check the importance-sampling estimate.
std::vector<double> grid_log_density(const EnergyModel& model, const ParamVector& params,
                                     const Matrix<float>& x_std, const Matrix<float>& y_std,
                                     double lo, double hi, int points);

}  // namespace ebm
