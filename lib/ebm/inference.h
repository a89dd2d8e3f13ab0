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
#include "ebm/rng.h"

namespace ebm {

// Where p(y|x) lives, in standardised units of y: the box [lo_d, hi_d] per target
// dimension (ebm-train: the training range of y widened by half of it on each side). With a
// one-dimensional target, the normaliser is computed by quadrature over it (see
// importance_sample) and the density is defined as 0 outside it, so that the density
// reported integrates to 1 by construction, not just in expectation.
struct TargetSupport {
  std::vector<double> lo, hi;
  bool empty() const { return lo.empty(); }
  bool contains(int dim, double y) const { return y >= lo[dim] && y <= hi[dim]; }
};

// Points of the uniform grid added to the proposal draws for quadrature (one-dimensional
// targets with a support): the grid covers the whole support, the draws refine it where
// the proposal puts its mass.
constexpr int kQuadratureGridPoints = 512;
// Adaptive refinement of the quadrature: up to kRefinementPoints more points per row, added
// in up to kRefinementRounds rounds at the midpoints of the intervals whose estimated
// trapezoid error (inference.cpp, interval_errors) exceeds kRefinementTolerance of the
// row's mass, largest first. The estimate reads slopes between points at least
// (grid step / kRefinementMinGapDivisor) apart, so float noise between clustered draws
// does not read as curvature.
constexpr int kRefinementPoints = 512;
constexpr int kRefinementRounds = 8;
constexpr double kRefinementTolerance = 1e-4;
constexpr double kRefinementMinGapDivisor = 64;
// Estimated trapezoid-rule error of each interval [u_j, u_{j+1}] of sorted points u with
// energies f (log of the integrand), as a share of the trapezoid mass; n - 1 values.
std::vector<double> interval_errors(const std::vector<double>& u, const std::vector<double>& f);
// Candidates per row: the M draws, plus for quadrature the grid and the refinement slots.
int candidate_count(int samples, const TargetSupport& support, int y_dim);

// The share of the proposal mixed into the reported density, p = (1 - eps) p_EBM + eps q:
// log p(y|x) stays finite wherever the EBM's support or its quadrature misses y, and the
// mixture still integrates to 1. Estimators (mean, quantiles, samples) use p_EBM alone; the
// difference to the mixture is at most eps in any probability.
constexpr double kDefensiveShare = 1e-3;

// SNIS state for a block of E rows: C candidates per row, each with a weight. Without a
// support the candidates are the M proposal draws (self-normalised importance sampling);
// with a support and y_dim == 1 they are the M draws plus a uniform grid over the support,
// weighted by the trapezoid rule (quadrature): w_i = exp(f_i) D_i / Z, Z = sum_i exp(f_i) D_i,
// D_i the trapezoid width of point i among the sorted points inside the support (0 outside).
struct ImportanceSample {
  int rows = 0, samples = 0, y_dim = 0;
  Matrix<float> hx;            // H x E
  MdnOutput<float> proposal;   // q(.|x) per row
  Matrix<float> y;             // y_dim x (E*C), candidates of row e in columns e*C .. e*C+C-1
  Matrix<double> log_q;        // C x E
  Matrix<double> energy;       // C x E
  Matrix<double> weights;      // C x E, normalised per column
  Matrix<double> log_base;     // C x E: log Z = LSE_i (f_i + log_base_i); -log q_i - log M (SNIS) or log D_i
  std::vector<double> log_z;   // E: estimate of log Z(x) (standardised units)
  std::vector<double> ess;     // E: effective sample size 1 / sum w^2
  // Quadrature only: the cell [cell_lo, cell_hi] of each candidate (halfway to its
  // neighbours, clipped to the support; empty outside it), for resampling a continuous y.
  TargetSupport support;
  Matrix<float> cell_lo, cell_hi;  // 1 x (E*C)
  bool quadrature() const { return cell_lo.cols() != 0; }
};

// Draws M proposal samples per row of x_std (x_dim x E). Row e uses random stream
// row_streams[e] if given, else first_row + e; first_row (the global index of column 0)
// also names rows in error messages. Throws NumericalError on NaN.
// With a support (non-empty) and a one-dimensional target, kQuadratureGridPoints + 1 grid
// points are added to the M draws and the weights are quadrature weights (see above).
ImportanceSample importance_sample(const EnergyModel& model, const ParamVector& params,
                                   const Matrix<float>& x_std, int samples, std::uint64_t seed,
                                   std::uint64_t first_row, const std::vector<std::uint64_t>* row_streams = nullptr,
                                   const TargetSupport& support = {});

// log p(y|x) (standardised units) for observed targets y_std (y_dim x E): f(x,y) - log Z(x),
// -inf outside the support, mixed with the proposal (kDefensiveShare) when there is a support.
std::vector<double> log_density(const EnergyModel& model, const ParamVector& params,
                                const ImportanceSample& is, const Matrix<float>& y_std);
// The energies f(x_e, y_e) log_density uses, one per row of the sample (1 x E).
RowVector<float> observed_energies(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is,
                                   const Matrix<float>& y_std);
// The same for one point: row `row`, energy f(x, y) at y_std (y_dim values).
double reported_log_density(const ImportanceSample& is, int row, double energy, const float* y_std);
// log P(y - half_width <= Y <= y + half_width) for row `row` (one-dimensional y,
// standardised units): the reported density integrated over the cell by the midpoint rule
// on kCellPoints points. The probability of an observed value on a lattice (lattice.h).
constexpr int kCellPoints = 16;
double cell_log_probability(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is, int row,
                            double y, double half_width);

// The honesty check of the reported density of every row of `is` (one-dimensional y): its
// integral over [lo, hi] (standardised units) by the trapezoid rule on `points` equally
// spaced points. 1 for an honestly normalised density whose mass lies inside [lo, hi].
// The grid's y-side of the energy network is computed once for all rows.
std::vector<double> reported_masses(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is,
                                    double lo, double hi, int points);

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
                       const std::vector<std::uint64_t>* row_streams = nullptr);

// The steps of resample, for callers that combine them otherwise (ensemble.h):
// systematic resampling of row `row`'s weighted candidates into columns first_column ..
// first_column + draws - 1 of y (uniform within the quadrature cell, then shuffled), the
// candidate index of each draw into chosen_candidates if given;
void resample_row(const ImportanceSample& is, int row, int draws, Rng& rng, Matrix<float>& y, Eigen::Index first_column,
                  std::vector<int>* chosen_candidates);
// and `steps` MALA steps on f (p(y|x)-invariant) for y (y_dim x rows*draws), the draws of
// row e under hx.col(e) with random numbers from rngs[e]; moves leaving the support are rejected.
void langevin_refine(const EnergyModel& model, const ParamVector& params, const Matrix<float>& hx, Matrix<float>& y,
                     int draws, int steps, double step, const std::vector<Rng*>& rngs, const TargetSupport& support);

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
