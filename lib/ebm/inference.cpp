#include "ebm/inference.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <numeric>
#include <string>

#include "ebm/errors.h"
#include "ebm/objectives.h"
#include "ebm/proposal.h"
#include "ebm/rng.h"
#include "ebm/streams.h"

namespace ebm {

namespace {

// Rows are evaluated one at a time. Eigen's GEMM blocking depends on the matrix sizes, so
// the last bits of a column's result can depend on how many other columns share the call;
// evaluating each input row on its own makes every output a function of that row alone:
// the same bits whether a file is processed whole, in chunks, with any thread count, or
// sharded across processes (GNU parallel --pipe). With M >= a few hundred candidates per
// row the per-row products are still long enough to run at full speed.
//
// When the last `shared` candidates of every row are the same points (the quadrature grid),
// their y-side of the joint input layer (EnergyModel::joint_y_part) is computed once for
// all rows, and per row only the layers after it run: at H = 64 that is one H x H product
// per grid point instead of three. The shared part is a function of the grid alone, so
// every output is still a function of its row alone. The lane path (narrow networks) runs
// whole candidates and shares nothing.
RowVector<float> energies_by_row(const EnergyModel& model, const float* p, const Matrix<float>& hx,
                                 const Matrix<float>& y, int candidates, int shared = 0) {
  RowVector<float> f(y.cols());
  const bool share = shared > 0 && hx.cols() > 0 && model.shares_joint_y_part();
  const int own = candidates - shared;
  Matrix<float> shared_part;
  if (share) shared_part = model.joint_y_part(p, Matrix<float>(y.middleCols(own, shared)));
  for (Eigen::Index e = 0; e < hx.cols(); ++e) {
    const Matrix<float> hx_e = hx.col(e);
    const Matrix<float> y_e = y.middleCols(e * candidates, candidates);
    if (!share) {
      f.segment(e * candidates, candidates) = model.energy(p, hx_e, y_e, candidates);
      continue;
    }
    Matrix<float> y_part(shared_part.rows(), candidates);
    if (own > 0) y_part.leftCols(own) = model.joint_y_part(p, Matrix<float>(y_e.leftCols(own)));
    y_part.rightCols(shared) = shared_part;
    f.segment(e * candidates, candidates) =
        model.energy_from_joint_y_part(p, hx_e, y_e, std::move(y_part), candidates);
  }
  return f;
}

// Energies and their gradients w.r.t. y, row by row (see energies_by_row).
RowVector<float> energies_and_gradients_by_row(const EnergyModel& model, const float* p, const Matrix<float>& hx,
                                               const Matrix<float>& y, int candidates, Matrix<float>& grad) {
  RowVector<float> f(y.cols());
  grad.resize(y.rows(), y.cols());
  EnergyCache<float> cache;
  const RowVector<float> ones = RowVector<float>::Ones(candidates);
  Matrix<float> grad_e;
  for (Eigen::Index e = 0; e < hx.cols(); ++e) {
    const Matrix<float> hx_e = hx.col(e);
    const Matrix<float> y_e = y.middleCols(e * candidates, candidates);
    f.segment(e * candidates, candidates) = model.energy(p, hx_e, y_e, candidates, cache);
    model.energy_backward(p, cache, ones, nullptr, nullptr, &grad_e);
    grad.middleCols(e * candidates, candidates) = grad_e;
  }
  return f;
}

}  // namespace

// Estimated trapezoid error of each interval [u_j, u_{j+1}] of the sorted points u with
// energies f, relative to the row's mass. The trapezoid rule on g = exp f errs by about
// h^3/12 |g''| on an interval of width h, and g'' = g (f'' + f'^2). f' is the interval's
// slope s_j = (f_{j+1} - f_j)/h_j; f'' at an inner point is the change of slope,
// 2 (s_j - s_{j-1}) / (h_{j-1} + h_j), the larger of the two ends' taken. g is bounded by
// its larger end value, and the mass by the trapezoid sum Z over the same points:
//   E_j = h_j^3 / 12 * exp(max(f_j, f_{j+1}) - log Z) * (|f''| + s_j^2).
// A peak whose tip falls between two points shows as a sharp change of slope there.
std::vector<double> interval_errors(const std::vector<double>& u, const std::vector<double>& f) {
  const std::size_t n = u.size();
  std::vector<double> errors(n > 0 ? n - 1 : 0, 0.0);
  if (n < 2) return errors;
  std::vector<double> h(n - 1), slope(n - 1), log_terms(n);
  for (std::size_t j = 0; j + 1 < n; ++j) {
    h[j] = u[j + 1] - u[j];
    slope[j] = (f[j + 1] - f[j]) / h[j];
  }
  for (std::size_t j = 0; j < n; ++j) {
    const double width = 0.5 * ((j + 1 < n ? h[j] : 0) + (j > 0 ? h[j - 1] : 0));
    log_terms[j] = f[j] + std::log(width);
  }
  const double log_z = log_sum_exp(log_terms.data(), static_cast<int>(n));
  // Curvature at point j (0 at the ends: one-sided intervals have no change of slope).
  std::vector<double> curvature(n, 0.0);
  for (std::size_t j = 1; j + 1 < n; ++j) curvature[j] = 2 * (slope[j] - slope[j - 1]) / (h[j - 1] + h[j]);
  for (std::size_t j = 0; j + 1 < n; ++j) {
    const double bend = std::max(std::abs(curvature[j]), std::abs(curvature[j + 1]));
    errors[j] = h[j] * h[j] * h[j] / 12 * std::exp(std::max(f[j], f[j + 1]) - log_z) * (bend + slope[j] * slope[j]);
  }
  return errors;
}

namespace {

// The proposal q(.|x) of every row (row by row: see energies_by_row), into is.hx and is.proposal.
void evaluate_proposals(const EnergyModel& model, const float* p, const Matrix<float>& x_std, ImportanceSample& is) {
  const int rows = is.rows, dy = is.y_dim;
  const int hidden = model.architecture().hidden, k = model.architecture().components;
  is.hx.resize(hidden, rows);
  is.proposal.components = k;
  is.proposal.y_dim = dy;
  is.proposal.means.resize(k * dy, rows);
  is.proposal.log_variances.resize(k * dy, rows);
  is.proposal.log_weights.resize(k, rows);
  for (int e = 0; e < rows; ++e) {
    is.hx.col(e) = model.x_features(p, Matrix<float>(x_std.col(e)));
    MdnOutput<float> q;
    model.proposal(p, Matrix<float>(is.hx.col(e)), q, nullptr);
    is.proposal.means.col(e) = q.means;
    is.proposal.log_variances.col(e) = q.log_variances;
    is.proposal.log_weights.col(e) = q.log_weights;
  }
}

// Candidates of every row: M proposal draws from the row's stream, then (quadrature) the
// uniform grid lo, lo + h, ..., hi over the support; and log q at each.
void draw_candidates(int samples, std::uint64_t seed, std::uint64_t first_row,
                     const std::vector<std::uint64_t>* row_streams, int grid_points, ImportanceSample& is) {
  const int rows = is.rows, dy = is.y_dim, candidates = is.samples;
  is.y.resize(dy, static_cast<Eigen::Index>(rows) * candidates);
  is.log_q.resize(candidates, rows);
  for (int e = 0; e < rows; ++e) {
    Rng rng(seed ^ streams::kProposal, row_streams != nullptr ? (*row_streams)[e] : first_row + e);
    auto row = is.y.middleCols(static_cast<Eigen::Index>(e) * candidates, candidates);
    auto draws = row.leftCols(samples);
    mdn_sample_batch(is.proposal, e, rng, draws);
    if (grid_points > 0) {
      const double lo = is.support.lo[0], hi = is.support.hi[0];
      for (int g = 0; g <= grid_points; ++g) {
        row(0, samples + g) = static_cast<float>(lo + (hi - lo) * g / grid_points);
      }
      // Refinement slots start as copies of the grid's first point (zero-width cells).
      for (int r = samples + grid_points + 1; r < candidates; ++r) row(0, r) = row(0, samples);
    }
    // An Eigen vector, not a std::vector: Eigen's vectorised log/exp give bit-different
    // results on the unaligned head of a buffer, so a buffer whose alignment varies from
    // run to run (malloc arenas differ per thread) would make results irreproducible.
    RowVector<float> log_q(candidates);
    mdn_log_density_batch(is.proposal, e, row, log_q.data());
    for (int m = 0; m < candidates; ++m) is.log_q(m, e) = log_q(m);
  }
}

// The points of one row's quadrature that are used to decide where to refine: the
// candidates inside the support, sorted, thinned so that neighbours are at least
// `min_gap` apart (draws cluster within float noise of each other; slopes between such
// points are noise). Returns candidate indices.
std::vector<int> thinned_sorted_points(const ImportanceSample& is, Eigen::Index base, int used, double min_gap) {
  const double lo = is.support.lo[0], hi = is.support.hi[0];
  std::vector<int> order;
  for (int i = 0; i < used; ++i) {
    const double y = is.y(0, base + i);
    if (y >= lo && y <= hi) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return is.y(0, base + a) < is.y(0, base + b); });
  std::vector<int> kept;
  for (int i : order) {
    if (kept.empty() || is.y(0, base + i) - is.y(0, base + kept.back()) >= min_gap) kept.push_back(i);
  }
  return kept;
}

// Adds points to row e's quadrature where the trapezoid rule errs most (see
// kRefinementPoints and interval_errors). Slots [first_slot, C) are the refinement slots:
// used ones get a midpoint and its energy, unused ones stay copies of the grid's first point.
void refine_quadrature(const EnergyModel& model, const float* p, int first_slot, int e, ImportanceSample& is) {
  const int candidates = is.samples;
  const Eigen::Index base = static_cast<Eigen::Index>(e) * candidates;
  const double min_gap = (is.support.hi[0] - is.support.lo[0]) / kQuadratureGridPoints / kRefinementMinGapDivisor;
  const Matrix<float> hx = is.hx.col(e);
  for (int r = first_slot; r < candidates; ++r) is.energy(r, e) = is.energy(first_slot - kQuadratureGridPoints - 1, e);
  int used = first_slot;
  for (int round = 0; round < kRefinementRounds && used < candidates; ++round) {
    const std::vector<int> points = thinned_sorted_points(is, base, used, min_gap);
    std::vector<double> u(points.size()), f(points.size());
    for (std::size_t j = 0; j < points.size(); ++j) {
      u[j] = is.y(0, base + points[j]);
      f[j] = is.energy(points[j], e);
    }
    const std::vector<double> errors = interval_errors(u, f);
    std::vector<std::pair<double, float>> wanted;  // (estimated error, midpoint)
    for (std::size_t j = 0; j < errors.size(); ++j) {
      const float mid = static_cast<float>(0.5 * (u[j] + u[j + 1]));
      if (errors[j] > kRefinementTolerance && mid > u[j] && mid < u[j + 1]) wanted.emplace_back(errors[j], mid);
    }
    if (wanted.empty()) break;
    // The largest errors first; ties in position order.
    std::stable_sort(wanted.begin(), wanted.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    const int n = std::min(static_cast<int>(wanted.size()), candidates - used);
    Matrix<float> midpoints(1, n);
    for (int i = 0; i < n; ++i) midpoints(0, i) = wanted[static_cast<std::size_t>(i)].second;
    const RowVector<float> energies = model.energy(p, hx, midpoints, n);
    for (int i = 0; i < n; ++i) {
      is.y(0, base + used + i) = midpoints(0, i);
      is.energy(used + i, e) = energies(i);
    }
    used += n;
  }
  RowVector<float> log_q(candidates);
  mdn_log_density_batch(is.proposal, e, is.y.middleCols(base, candidates), log_q.data());
  for (int m = first_slot; m < candidates; ++m) is.log_q(m, e) = log_q(m);
}

// Trapezoid-rule weights of row e's candidates inside the support (one-dimensional y):
// sorted points u_0 < ... < u_n get D_i = (u_{i+1} - u_{i-1}) / 2 (one-sided at the ends),
// so sum_i exp(f_i) D_i approximates the integral of exp f over the support. Returns log Z;
// fills the normalised weights and each point's cell (halfway to its neighbours).
double quadrature_weights(ImportanceSample& is, int e) {
  const int candidates = is.samples;
  const Eigen::Index first = static_cast<Eigen::Index>(e) * candidates;
  const double lo = is.support.lo[0], hi = is.support.hi[0];
  std::vector<int> inside;
  inside.reserve(static_cast<std::size_t>(candidates));
  for (int i = 0; i < candidates; ++i) {
    const double y = is.y(0, first + i);
    if (y >= lo && y <= hi) inside.push_back(i);
  }
  // Stable: equal values keep candidate order, so the result is a function of the row alone.
  std::stable_sort(inside.begin(), inside.end(),
                   [&](int a, int b) { return is.y(0, first + a) < is.y(0, first + b); });
  auto weights = is.weights.col(e);
  weights.setZero();
  is.cell_lo.middleCols(first, candidates).setZero();
  is.cell_hi.middleCols(first, candidates).setZero();
  const std::size_t n = inside.size();
  std::vector<double> log_terms(n);
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < n; ++j) {
    const double here = is.y(0, first + inside[j]);
    const double below = j > 0 ? is.y(0, first + inside[j - 1]) : here;
    const double above = j + 1 < n ? is.y(0, first + inside[j + 1]) : here;
    const double width = 0.5 * (above - below);
    is.cell_lo(0, first + inside[j]) = static_cast<float>(0.5 * (below + here));
    is.cell_hi(0, first + inside[j]) = static_cast<float>(0.5 * (here + above));
    log_terms[j] = width > 0 ? is.energy(inside[j], e) + std::log(width) : -std::numeric_limits<double>::infinity();
    top = std::max(top, log_terms[j]);
  }
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const double w = std::exp(log_terms[j] - top);
    weights(inside[j]) = w;
    sum += w;
  }
  weights /= sum;
  return top + std::log(sum);
}

template <typename Column>
bool inside_support(const TargetSupport& support, const Column& y) {
  if (support.empty()) return true;
  for (Eigen::Index d = 0; d < y.rows(); ++d) {
    if (!support.contains(static_cast<int>(d), y(d))) return false;
  }
  return true;
}

}  // namespace

ImportanceSample importance_sample(const EnergyModel& model, const ParamVector& params,
                                   const Matrix<float>& x_std, int samples, std::uint64_t seed,
                                   std::uint64_t first_row, const std::vector<std::uint64_t>* row_streams,
                                   const TargetSupport& support) {
  ImportanceSample is;
  const int rows = static_cast<int>(x_std.cols());
  const int dy = model.architecture().y_dim;
  const bool quadrature = !support.empty() && dy == 1;
  const int grid_points = quadrature ? kQuadratureGridPoints : 0;
  is.rows = rows;
  is.samples = candidate_count(samples, support, dy);
  is.y_dim = dy;
  if (quadrature) is.support = support;  // y_dim > 1: self-normalised importance sampling, no support
  const float* p = params.data();
  evaluate_proposals(model, p, x_std, is);
  draw_candidates(samples, seed, first_row, row_streams, grid_points, is);
  const int candidates = is.samples;
  // Energies of the draws and the grid; the refinement slots get theirs in refine_quadrature.
  const int evaluated = quadrature ? samples + grid_points + 1 : candidates;
  Matrix<float> evaluated_y(dy, static_cast<Eigen::Index>(rows) * evaluated);
  for (int e = 0; e < rows; ++e) {
    evaluated_y.middleCols(static_cast<Eigen::Index>(e) * evaluated, evaluated) =
        is.y.middleCols(static_cast<Eigen::Index>(e) * candidates, evaluated);
  }
  // The grid (the last grid_points + 1 evaluated candidates) is the same for every row.
  const RowVector<float> f =
      energies_by_row(model, p, is.hx, evaluated_y, evaluated, quadrature ? grid_points + 1 : 0);
  is.energy.resize(candidates, rows);
  is.weights.resize(candidates, rows);
  is.log_base.resize(candidates, rows);
  is.log_z.resize(rows);
  is.ess.resize(rows);
  if (quadrature) {
    is.cell_lo.resize(1, static_cast<Eigen::Index>(rows) * candidates);
    is.cell_hi.resize(1, static_cast<Eigen::Index>(rows) * candidates);
  }
  for (int e = 0; e < rows; ++e) {
    for (int m = 0; m < evaluated; ++m) is.energy(m, e) = f(static_cast<Eigen::Index>(e) * evaluated + m);
    if (quadrature) refine_quadrature(model, p, evaluated, e, is);
    is.log_z[e] = quadrature ? quadrature_weights(is, e)
                             : importance_weights(is.energy.col(e).data(), is.log_q.col(e).data(), candidates,
                                                  is.weights.col(e).data());
    if (!std::isfinite(is.log_z[e])) {
      throw NumericalError("non-finite importance weights for input row " +
                           std::to_string(first_row + e + 1) +
                           " (the model or the proposal produced NaN or infinity)");
    }
    is.ess[e] = 1.0 / is.weights.col(e).squaredNorm();
    // The base measure: w_i = exp(f_i + log_base_i - log Z).
    for (int m = 0; m < candidates; ++m) {
      is.log_base(m, e) = quadrature ? std::log(is.weights(m, e)) - is.energy(m, e) + is.log_z[e]
                                     : -is.log_q(m, e) - std::log(static_cast<double>(candidates));
    }
  }
  return is;
}

int candidate_count(int samples, const TargetSupport& support, int y_dim) {
  const bool quadrature = !support.empty() && y_dim == 1;
  return samples + (quadrature ? kQuadratureGridPoints + 1 + kRefinementPoints : 0);
}

double reported_log_density(const ImportanceSample& is, int row, double energy, const float* y_std) {
  const double log_ebm = energy - is.log_z[row];
  if (is.support.empty()) return log_ebm;
  // p = (1 - eps) p_EBM + eps q, p_EBM = 0 outside the support (log-sum-exp of the two).
  bool inside = true;
  for (int d = 0; d < is.y_dim; ++d) inside = inside && is.support.contains(d, y_std[d]);
  const double a = inside ? log_ebm + std::log1p(-kDefensiveShare) : -std::numeric_limits<double>::infinity();
  const double b = mdn_log_density(is.proposal, row, y_std) + std::log(kDefensiveShare);
  const double top = std::max(a, b);
  return top + std::log(std::exp(a - top) + std::exp(b - top));
}

double cell_log_probability(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is, int row,
                            double y, double half_width) {
  Matrix<float> points(1, kCellPoints);
  const double width = 2 * half_width / kCellPoints;
  for (int j = 0; j < kCellPoints; ++j) points(0, j) = static_cast<float>(y - half_width + (j + 0.5) * width);
  const RowVector<float> f = model.energy(params.data(), Matrix<float>(is.hx.col(row)), points, kCellPoints);
  std::vector<double> terms(kCellPoints);
  for (int j = 0; j < kCellPoints; ++j) terms[j] = reported_log_density(is, row, f(j), points.col(j).data());
  return log_sum_exp(terms.data(), kCellPoints) + std::log(width);
}

std::vector<double> reported_masses(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is,
                                    double lo, double hi, int points) {
  Matrix<float> grid(1, points);
  for (int j = 0; j < points; ++j) grid(0, j) = static_cast<float>(lo + (hi - lo) * j / (points - 1));
  const bool share = model.shares_joint_y_part();
  Matrix<float> grid_part;
  if (share) grid_part = model.joint_y_part(params.data(), grid);
  const double step = (hi - lo) / (points - 1);
  std::vector<double> masses(static_cast<std::size_t>(is.rows), 0.0);
  for (int row = 0; row < is.rows; ++row) {
    const Matrix<float> hx = is.hx.col(row);
    const RowVector<float> f = share ? model.energy_from_joint_y_part(params.data(), hx, grid, grid_part, points)
                                     : model.energy(params.data(), hx, grid, points);
    double mass = 0;
    for (int j = 0; j < points; ++j) {
      const double end_weight = (j == 0 || j + 1 == points) ? 0.5 : 1.0;
      mass += end_weight * step * std::exp(reported_log_density(is, row, f(j), grid.col(j).data()));
    }
    masses[static_cast<std::size_t>(row)] = mass;
  }
  return masses;
}

RowVector<float> observed_energies(const EnergyModel& model, const ParamVector& params, const ImportanceSample& is,
                                   const Matrix<float>& y_std) {
  return energies_by_row(model, params.data(), is.hx, y_std, 1);
}

std::vector<double> log_density(const EnergyModel& model, const ParamVector& params,
                                const ImportanceSample& is, const Matrix<float>& y_std) {
  const RowVector<float> f = observed_energies(model, params, is, y_std);
  std::vector<double> out(is.rows);
  for (int e = 0; e < is.rows; ++e) out[e] = reported_log_density(is, e, f(e), y_std.col(e).data());
  return out;
}

Moments weighted_moments(const ImportanceSample& is, int row, int dim) {
  // Draw m of row e is column e*M + m of is.y; its weight is is.weights(m, e).
  const Eigen::Index first = static_cast<Eigen::Index>(row) * is.samples;
  double mean = 0;
  for (int m = 0; m < is.samples; ++m) mean += is.weights(m, row) * is.y(dim, first + m);
  double var = 0;
  for (int m = 0; m < is.samples; ++m) {
    const double diff = is.y(dim, first + m) - mean;
    var += is.weights(m, row) * diff * diff;
  }
  return {mean, std::sqrt(var)};
}

SortedDraws sort_draws(const ImportanceSample& is, int row, int dim) {
  // Least-significant-digit radix sort of the float bits mapped to order-preserving
  // unsigned integers: four 8-bit passes, O(M) (std::sort of (value, weight) pairs was a
  // third of ebm-predict's time). Radix sort is stable, so ties stay in draw order and
  // the result is fully determined by the data.
  const int n = is.samples;
  const Eigen::Index base = static_cast<Eigen::Index>(row) * n;
  std::vector<std::uint32_t> keys(n), order(n), keys_next(n), order_next(n);
  std::array<std::array<std::uint32_t, 256>, 4> counts{};
  for (int m = 0; m < n; ++m) {
    const float value = is.y(dim, base + m);
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    bits = (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
    keys[m] = bits;
    order[m] = static_cast<std::uint32_t>(m);
    for (int pass = 0; pass < 4; ++pass) ++counts[pass][(bits >> (8 * pass)) & 0xffu];
  }
  for (int pass = 0; pass < 4; ++pass) {
    auto& count = counts[pass];
    if (n == 0 || count[(keys[0] >> (8 * pass)) & 0xffu] == static_cast<std::uint32_t>(n)) continue;  // one digit value
    std::uint32_t offset = 0;
    for (auto& c : count) {
      const std::uint32_t here = c;
      c = offset;
      offset += here;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint32_t slot = count[(keys[i] >> (8 * pass)) & 0xffu]++;
      keys_next[slot] = keys[i];
      order_next[slot] = order[i];
    }
    keys.swap(keys_next);
    order.swap(order_next);
  }
  SortedDraws draws;
  draws.values.resize(n);
  draws.weights.resize(n);
  for (int i = 0; i < n; ++i) {
    const int m = static_cast<int>(order[i]);
    draws.values[i] = is.y(dim, base + m);
    draws.weights[i] = is.weights(m, row);
  }
  return draws;
}

double weighted_quantile(const SortedDraws& draws, double level) {
  const std::vector<float>& values = draws.values;
  const std::vector<double>& weights = draws.weights;
  // Sample i sits at cumulative probability c_i = (w_0 + ... + w_{i-1}) + w_i / 2.
  double cumulative = 0;
  double previous_position = 0, previous_value = values.front();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double position = cumulative + 0.5 * weights[i];
    cumulative += weights[i];
    if (level <= position) {
      if (i == 0) return values[0];
      const double span = position - previous_position;
      const double t = span > 0 ? (level - previous_position) / span : 1.0;
      return previous_value + t * (values[i] - previous_value);
    }
    previous_position = position;
    previous_value = values[i];
  }
  return values.back();
}

double weighted_crps(const SortedDraws& draws, double observed) {
  // E|Y - y| = sum_m w_m |y_m - y|.
  // E|Y - Y'| = 2 sum_j w_j y_j (A_j - B_j), with A_j / B_j the weight below / above j
  // in sorted order (each unordered pair contributes w_i w_j (y_j - y_i) twice).
  double to_observation = 0, spread = 0, below = 0;
  for (std::size_t i = 0; i < draws.values.size(); ++i) {
    const double w = draws.weights[i], v = draws.values[i];
    to_observation += w * std::abs(v - observed);
    const double above = 1.0 - below - w;
    spread += w * v * (below - above);
    below += w;
  }
  return to_observation - spread;  // = E|Y-y| - 1/2 * (2 * spread)
}

double weighted_pit(const SortedDraws& draws, double observed) {
  double total = 0;
  for (std::size_t i = 0; i < draws.values.size() && draws.values[i] <= observed; ++i) total += draws.weights[i];
  return total;
}

double weighted_quantile(const ImportanceSample& is, int row, int dim, double level) {
  return weighted_quantile(sort_draws(is, row, dim), level);
}
double weighted_crps(const ImportanceSample& is, int row, int dim, double observed) {
  return weighted_crps(sort_draws(is, row, dim), observed);
}
double weighted_pit(const ImportanceSample& is, int row, int dim, double observed) {
  return weighted_pit(sort_draws(is, row, dim), observed);
}

std::uint64_t row_stream(const double* features, int count) {
  // SplitMix64 over the bit patterns (+0.0 and -0.0 are the same number: normalised).
  std::uint64_t h = streams::kRowHash ^ static_cast<std::uint64_t>(count);
  for (int i = 0; i < count; ++i) {
    const double v = features[i] == 0.0 ? 0.0 : features[i];
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    h ^= bits;
    h = splitmix64(h);
  }
  return h;
}

Matrix<float> find_modes(const EnergyModel& model, const ParamVector& params,
                         const ImportanceSample& is, int steps, double initial_step) {
  const float* p = params.data();
  const int rows = is.rows, dy = is.y_dim;
  Matrix<float> y(dy, rows);
  std::vector<double> best_f(rows), step(rows, initial_step);
  for (int e = 0; e < rows; ++e) {
    Eigen::Index best = 0;
    if (is.quadrature()) {
      // The highest energy among the candidates inside the support (weight > 0).
      for (Eigen::Index m = 0; m < is.samples; ++m) {
        if (is.weights(m, e) > 0 && (is.weights(best, e) == 0 || is.energy(m, e) > is.energy(best, e))) best = m;
      }
    } else {
      is.energy.col(e).maxCoeff(&best);
    }
    y.col(e) = is.y.col(static_cast<Eigen::Index>(e) * is.samples + best);
    best_f[e] = is.energy(best, e);
  }
  for (int t = 0; t < steps; ++t) {
    Matrix<float> grad;
    const RowVector<float> f = energies_and_gradients_by_row(model, p, is.hx, y, 1, grad);
    Matrix<float> proposal = y;
    for (int e = 0; e < rows; ++e) proposal.col(e) += static_cast<float>(step[e]) * grad.col(e);
    const RowVector<float> f_new = energies_by_row(model, p, is.hx, proposal, 1);
    for (int e = 0; e < rows; ++e) {
      // Never accept a step that lowers f or leaves the support: the result is at least as
      // good as the start.
      if (std::isfinite(f_new(e)) && f_new(e) >= f(e) && inside_support(is.support, proposal.col(e))) {
        y.col(e) = proposal.col(e);
      } else {
        step[e] *= 0.5;
      }
    }
  }
  return y;
}

void resample_row(const ImportanceSample& is, int row, int draws, Rng& rng, Matrix<float>& y, Eigen::Index first_column,
                  std::vector<int>* chosen_candidates) {
  // Systematic resampling: one uniform offset, N evenly spaced positions on the CDF of
  // the weights; lower variance than N independent categorical draws.
  const double offset = rng.uniform();
  double cumulative = is.weights(0, row);
  int m = 0;
  if (chosen_candidates != nullptr) chosen_candidates->assign(static_cast<std::size_t>(draws), 0);
  for (int i = 0; i < draws; ++i) {
    const double position = (offset + i) / draws;
    while (position > cumulative && m + 1 < is.samples) cumulative += is.weights(++m, row);
    const Eigen::Index chosen = static_cast<Eigen::Index>(row) * is.samples + m;
    y.col(first_column + i) = is.y.col(chosen);
    if (chosen_candidates != nullptr) (*chosen_candidates)[static_cast<std::size_t>(i)] = m;
    if (is.quadrature()) {
      // Uniform within the chosen point's quadrature cell: a draw from the piecewise-constant
      // density whose cell masses are the weights, continuous rather than on the grid.
      y(0, first_column + i) =
          is.cell_lo(0, chosen) + static_cast<float>(rng.uniform()) * (is.cell_hi(0, chosen) - is.cell_lo(0, chosen));
    }
  }
  // Shuffle so that the order of draws carries no information (systematic resampling
  // returns them sorted by sample index).
  for (int i = draws - 1; i > 0; --i) {
    const int j = static_cast<int>(rng.below(static_cast<std::uint64_t>(i) + 1));
    y.col(first_column + i).swap(y.col(first_column + j));
    if (chosen_candidates != nullptr) std::swap((*chosen_candidates)[i], (*chosen_candidates)[j]);
  }
}

void langevin_refine(const EnergyModel& model, const ParamVector& params, const Matrix<float>& hx, Matrix<float>& y,
                     int draws, int steps, double step, const std::vector<Rng*>& rngs, const TargetSupport& support) {
  // MALA: y' = y + (s^2/2) grad f(y) + s z; accept with probability
  // min(1, exp(f(y') - f(y) + log N(y; y' + (s^2/2) grad f(y'), s^2) - log N(y'; y + ..., s^2))).
  const float* p = params.data();
  const int rows = static_cast<int>(hx.cols()), dy = static_cast<int>(y.rows());
  const float half_s2 = static_cast<float>(0.5 * step * step);
  const Eigen::Index n = y.cols();
  Matrix<float> grad;
  RowVector<float> f = energies_and_gradients_by_row(model, p, hx, y, draws, grad);
  for (int t = 0; t < steps; ++t) {
    Matrix<float> noise(dy, n);
    for (int e = 0; e < rows; ++e) {
      for (int i = 0; i < draws; ++i) {
        for (int d = 0; d < dy; ++d) noise(d, static_cast<Eigen::Index>(e) * draws + i) = static_cast<float>(rngs[e]->normal());
      }
    }
    Matrix<float> proposal = y + half_s2 * grad + static_cast<float>(step) * noise;
    Matrix<float> grad_new;
    const RowVector<float> f_new = energies_and_gradients_by_row(model, p, hx, proposal, draws, grad_new);
    const double inv_2s2 = 1.0 / (2.0 * step * step);
    for (Eigen::Index c = 0; c < n; ++c) {
      const double forward = (proposal.col(c) - y.col(c) - half_s2 * grad.col(c)).squaredNorm();
      const double backward = (y.col(c) - proposal.col(c) - half_s2 * grad_new.col(c)).squaredNorm();
      const double log_accept = (f_new(c) - f(c)) - backward * inv_2s2 + forward * inv_2s2;
      const int e = static_cast<int>(c / draws);
      if (std::isfinite(log_accept) && std::log(rngs[e]->uniform_positive()) < log_accept &&
          inside_support(support, proposal.col(c))) {
        y.col(c) = proposal.col(c);
        grad.col(c) = grad_new.col(c);
        f(c) = f_new(c);
      }
    }
  }
}

Matrix<float> resample(const EnergyModel& model, const ParamVector& params,
                       const ImportanceSample& is, int draws, int langevin_steps, double step,
                       std::uint64_t seed, std::uint64_t first_row,
                       const std::vector<std::uint64_t>* row_streams) {
  const int rows = is.rows;
  Matrix<float> y(is.y_dim, static_cast<Eigen::Index>(rows) * draws);
  std::vector<Rng> rngs;
  rngs.reserve(rows);
  std::vector<Rng*> row_rngs;
  for (int e = 0; e < rows; ++e) {
    rngs.emplace_back(seed ^ streams::kResample, row_streams != nullptr ? (*row_streams)[e] : first_row + e);
    row_rngs.push_back(&rngs.back());
    resample_row(is, e, draws, rngs.back(), y, static_cast<Eigen::Index>(e) * draws, nullptr);
  }
  if (langevin_steps > 0) langevin_refine(model, params, is.hx, y, draws, langevin_steps, step, row_rngs, is.support);
  return y;
}

std::vector<double> grid_log_density(const EnergyModel& model, const ParamVector& params,
                                     const Matrix<float>& x_std, const Matrix<float>& y_std,
                                     double lo, double hi, int points) {
  if (model.architecture().y_dim != 1) throw UsageError("grid normalisation needs a one-dimensional target");
  const float* p = params.data();
  const Eigen::Index rows = x_std.cols();
  std::vector<double> out(rows);
  Matrix<float> grid(1, points);
  for (int j = 0; j < points; ++j) grid(0, j) = static_cast<float>(lo + (hi - lo) * j / (points - 1));
  for (Eigen::Index e = 0; e < rows; ++e) {
    const Matrix<float> hx = model.x_features(p, Matrix<float>(x_std.col(e)));
    const RowVector<float> f = model.energy(p, hx, grid, points);
    std::vector<double> fd(f.data(), f.data() + points);
    const double log_norm = log_sum_exp(fd.data(), points) - std::log(static_cast<double>(points)) + std::log(hi - lo);
    const RowVector<float> f0 = model.energy(p, hx, Matrix<float>(y_std.col(e)), 1);
    out[e] = static_cast<double>(f0(0)) - log_norm;
  }
  return out;
}

}  // namespace ebm
