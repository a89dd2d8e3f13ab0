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
  bool covered = false;  // observed inside the central interval of the level "interval"
  bool covered_at[kReportedLevelCount] = {};  // ... of each of kReportedCoverageLevels
  double pit = 0;        // predictive CDF at the observed value
};

class MetricSums {
 public:
  explicit MetricSums(int targets = 0);
  void add(int target, const TargetScore& score);
  // One row: its log-density (user's units) when the targets are known, and the ESS.
  void add_log_density(double log_density) { nll_ -= log_density; }
  // A lattice target's log-probability of the observed cell (lattice.h).
  void add_cell_log_probability(double log_probability) {
    cell_nll_ -= log_probability;
    ++cells_;
  }
  void add_ess(double ess) { ess_ += ess; }
  void merge(const MetricSums& other);

  // Fine PIT counts of each target (kPitFineBins each).
  std::vector<std::vector<long>> pit_counts() const;
  // Means over `rows` rows: nll, [nll_cell: -log P(observed lattice cell), lattice targets], rmse, mae, crps, coverage (of the level `interval`),
  // mean_ess, coverage at kReportedCoverageLevels and a 10-bin PIT histogram, pooled and
  // per target; `samples` and `seed` are recorded as given.
  nlohmann::ordered_json to_json(const std::vector<std::string>& targets, std::size_t rows, double interval,
                                 int samples, std::uint64_t seed) const;

 private:
  int targets_ = 0;
  double nll_ = 0, ess_ = 0, cell_nll_ = 0;
  long cells_ = 0;
  std::vector<double> squared_, absolute_, crps_, covered_;
  std::vector<long> covered_at_;  // targets x kReportedLevelCount
  std::vector<long> pit_;  // targets x kPitFineBins
};

}  // namespace ebm
