// Scores of predictions against observed targets (ebm-predict --metrics, --report and the
// tests): sums accumulated row by row, merged across tasks and chunks in a fixed order (so
// the result does not depend on the thread count), and written as JSON.
//
// Coverage has one definition: the share of observed values inside the central interval
// [q((1-a)/2), q((1+a)/2)] that ebm-predict --interval a writes (weighted_quantile), both
// for "coverage" (the level "interval") and for "coverage_levels" (kReportedCoverageLevels).
//
// The PIT histogram and the --report curve come from PIT values u = F(y) counted in
// kPitFineBins equal bins of [0, 1] (u = 1 in the last); pit_coverage reads the curve off
// them: |u - 1/2| <= a/2, the share of the bins between (1 - a)/2 and (1 + a)/2. F is the
// step CDF of the weighted draws while the quantiles interpolate between draws, so the
// curve can differ from "coverage_levels" by a draw's weight per row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ebm {

constexpr int kPitFineBins = 200;
constexpr double kReportedCoverageLevels[] = {0.5, 0.8, 0.9, 0.95, 0.99};
constexpr int kReportedLevelCount = sizeof kReportedCoverageLevels / sizeof kReportedCoverageLevels[0];
double pit_coverage(const std::vector<long>& counts, double level);
std::vector<double> pit_histogram(const std::vector<long>& counts, int bins);  // fractions

// Per-target scores of one observed value, in the user's units of y.
struct TargetScore {
  double observed = 0, mean = 0;
  double crps = 0, scale = 1;  // CRPS in standardised units, and y's scale (CRPS in user's units = crps * scale)
  // Observed inside the central interval of each level (the levels of MetricSums, in order).
  std::vector<bool> covered;
  bool covered_at[kReportedLevelCount] = {};  // ... of each of kReportedCoverageLevels
  double pit = 0;        // predictive CDF at the observed value
};

// Paired comparison of two models scored on the same rows: the (weighted) mean of the
// per-row differences d_i = b_i - a_i and its standard error sqrt(var(d) / n_eff), with
// n_eff = (sum w)^2 / sum w^2 (n without weights). `weights`: null or empty = unweighted.
// a and b have the same length; with n_eff <= 1 the standard error is +inf.
struct PairedDifference {
  double mean = 0, standard_error = 0;
};
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                                   const std::vector<double>* weights = nullptr);

class MetricSums {
 public:
  // `levels`: how many interval levels each score's `covered` holds (at least 1).
  explicit MetricSums(int targets = 0, int levels = 1);
  // `weight`: the row's weight (ebm-predict with the checkpoint's --weight column in the
  // input): rmse, mae, crps, coverage, nll and nll_cell become weighted means; the PIT
  // counts, the ESS and the row count are not weighted.
  void add(int target, const TargetScore& score, double weight = 1.0);
  // One row: its log-density (user's units) when the targets are known, and the ESS.
  void add_log_density(double log_density, double weight = 1.0) {
    nll_ -= weight * log_density;
    weight_ += weight;
  }
  // A lattice target's log-probability of the observed cell (lattice.h).
  void add_cell_log_probability(double log_probability, double weight = 1.0) {
    cell_nll_ -= weight * log_probability;
    cell_weight_ += weight;
    ++cells_;
  }
  void add_ess(double ess) { ess_ += ess; }
  void merge(const MetricSums& other);

  // Fine PIT counts of each target (kPitFineBins each).
  std::vector<std::vector<long>> pit_counts() const;
  // Means over `rows` rows: nll, [nll_cell: -log P(observed lattice cell), lattice targets], rmse, mae, crps,
  // coverage (of the first of `intervals`, recorded as "interval"), mean_ess, coverage at
  // kReportedCoverageLevels and a 10-bin PIT histogram, pooled and per target; with several
  // intervals, "coverage_intervals" holds the coverage of each (as counted from the written
  // interval columns). `samples` and `seed` are recorded as given.
  // With `weight_column` non-empty, the means are weighted (divided by the sum of the
  // weights instead of the row count) and "weight_column", "weight_sum" are recorded.
  nlohmann::ordered_json to_json(const std::vector<std::string>& targets, std::size_t rows,
                                 const std::vector<double>& intervals, int samples, std::uint64_t seed,
                                 const std::string& weight_column = "") const;

 private:
  int targets_ = 0, levels_ = 1;
  double nll_ = 0, ess_ = 0, cell_nll_ = 0;
  double weight_ = 0, cell_weight_ = 0;  // sums of the rows' weights (of the rows with cells)
  long cells_ = 0;
  std::vector<double> squared_, absolute_, crps_;
  std::vector<double> covered_;     // targets x levels (weighted)
  std::vector<double> covered_at_;  // targets x kReportedLevelCount (weighted)
  std::vector<long> pit_;  // targets x kPitFineBins
};

}  // namespace ebm
