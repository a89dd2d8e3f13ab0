#include "ebm/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ebm/csv.h"

namespace ebm {

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                                   const std::vector<double>* weights) {
  const bool weighted = weights != nullptr && !weights->empty();
  const auto weight = [&](std::size_t i) { return weighted ? (*weights)[i] : 1.0; };
  double weight_sum = 0, weight_squares = 0, sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    weight_sum += weight(i);
    weight_squares += weight(i) * weight(i);
    sum += weight(i) * (b[i] - a[i]);
  }
  PairedDifference result;
  result.mean = sum / weight_sum;
  double squares = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double centred = b[i] - a[i] - result.mean;
    squares += weight(i) * centred * centred;
  }
  // var(d) with the unbiased factor n_eff / (n_eff - 1), then divided by n_eff.
  const double effective_rows = weight_sum * weight_sum / weight_squares;
  if (!(effective_rows > 1)) {  // one row (or one weighted row): no spread to estimate
    result.standard_error = std::numeric_limits<double>::infinity();
    return result;
  }
  const double variance = squares / weight_sum * effective_rows / (effective_rows - 1);
  result.standard_error = std::sqrt(variance / effective_rows);
  return result;
}

double pit_coverage(const std::vector<long>& counts, double level) {
  const int bins = static_cast<int>(counts.size());
  const int first = static_cast<int>(std::lround(0.5 * (1 - level) * bins));
  const int last = static_cast<int>(std::lround(0.5 * (1 + level) * bins));  // exclusive
  long inside = 0, total = 0;
  for (int b = 0; b < bins; ++b) {
    total += counts[static_cast<std::size_t>(b)];
    if (b >= first && b < last) inside += counts[static_cast<std::size_t>(b)];
  }
  return total > 0 ? static_cast<double>(inside) / static_cast<double>(total) : 0.0;
}

std::vector<double> pit_histogram(const std::vector<long>& counts, int bins) {
  const int fine = static_cast<int>(counts.size());
  std::vector<double> out(static_cast<std::size_t>(bins), 0.0);
  long total = 0;
  for (int b = 0; b < fine; ++b) {
    out[static_cast<std::size_t>(static_cast<long>(b) * bins / fine)] += static_cast<double>(counts[static_cast<std::size_t>(b)]);
    total += counts[static_cast<std::size_t>(b)];
  }
  if (total > 0) {
    for (double& v : out) v /= static_cast<double>(total);
  }
  return out;
}

MetricSums::MetricSums(int targets, int levels)
    : targets_(targets),
      levels_(levels),
      squared_(static_cast<std::size_t>(targets)),
      absolute_(static_cast<std::size_t>(targets)),
      crps_(static_cast<std::size_t>(targets)),
      covered_(static_cast<std::size_t>(targets) * static_cast<std::size_t>(levels)),
      covered_at_(static_cast<std::size_t>(targets) * kReportedLevelCount),
      pit_(static_cast<std::size_t>(kPitFineBins) * static_cast<std::size_t>(targets)) {}

void MetricSums::add(int d, const TargetScore& s, double w) {
  const double error = s.mean - s.observed;
  squared_[d] += w * error * error;
  absolute_[d] += w * std::abs(error);
  crps_[d] += w * s.crps * s.scale;
  for (int l = 0; l < levels_; ++l) covered_[d * levels_ + l] += s.covered[l] ? w : 0.0;
  for (int k = 0; k < kReportedLevelCount; ++k) {
    covered_at_[static_cast<std::size_t>(d) * kReportedLevelCount + k] += s.covered_at[k] ? w : 0.0;
  }
  const int bin = std::min(kPitFineBins - 1, static_cast<int>(s.pit * kPitFineBins));
  pit_[static_cast<std::size_t>(d) * kPitFineBins + bin] += 1;
}

void MetricSums::merge(const MetricSums& other) {
  nll_ += other.nll_;
  ess_ += other.ess_;
  cell_nll_ += other.cell_nll_;
  cells_ += other.cells_;
  weight_ += other.weight_;
  cell_weight_ += other.cell_weight_;
  for (int d = 0; d < targets_; ++d) {
    squared_[d] += other.squared_[d];
    absolute_[d] += other.absolute_[d];
    crps_[d] += other.crps_[d];
  }
  for (std::size_t k = 0; k < covered_.size(); ++k) covered_[k] += other.covered_[k];
  for (std::size_t b = 0; b < pit_.size(); ++b) pit_[b] += other.pit_[b];
  for (std::size_t k = 0; k < covered_at_.size(); ++k) covered_at_[k] += other.covered_at_[k];
}

std::vector<std::vector<long>> MetricSums::pit_counts() const {
  std::vector<std::vector<long>> out;
  for (int d = 0; d < targets_; ++d) {
    out.emplace_back(pit_.begin() + static_cast<std::ptrdiff_t>(d) * kPitFineBins,
                     pit_.begin() + static_cast<std::ptrdiff_t>(d + 1) * kPitFineBins);
  }
  return out;
}

namespace {

// Shares of `pairs` (row, target) pairs inside the interval of each reported level, from
// the kReportedLevelCount counts at `counts`.
nlohmann::ordered_json coverage_levels_json(const double* counts, double pairs) {
  nlohmann::ordered_json levels = nlohmann::ordered_json::object();
  for (int k = 0; k < kReportedLevelCount; ++k) {
    levels[format_number(kReportedCoverageLevels[k])] = counts[k] / pairs;
  }
  return levels;
}

// Coverage of each requested interval level: covered[l] / rows, keyed by the level.
nlohmann::ordered_json interval_coverage_json(const std::vector<double>& intervals, const std::vector<double>& covered,
                                              double rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (std::size_t l = 0; l < intervals.size(); ++l) out[format_number(intervals[l])] = covered[l] / rows;
  return out;
}

}  // namespace

nlohmann::ordered_json MetricSums::to_json(const std::vector<std::string>& targets, std::size_t rows,
                                           const std::vector<double>& intervals, int samples,
                                           std::uint64_t seed, const std::string& weight_column) const {
  // Weighted: the means divide by the sum of the rows' weights (the ESS stays per row).
  const bool weighted = !weight_column.empty();
  const double rows_n = static_cast<double>(rows);
  const double n = weighted ? weight_ : rows_n;
  const double cells = weighted ? cell_weight_ : static_cast<double>(cells_);
  const double dy = targets_;
  double sq = 0, ab = 0, cr = 0;
  std::vector<double> cov(static_cast<std::size_t>(levels_), 0.0);
  for (int d = 0; d < targets_; ++d) {
    sq += squared_[d];
    ab += absolute_[d];
    cr += crps_[d];
    for (int l = 0; l < levels_; ++l) cov[l] += covered_[d * levels_ + l];
  }
  const bool several = intervals.size() > 1;
  nlohmann::ordered_json m;
  m["rows"] = rows;
  if (weighted) {
    m["weight_column"] = weight_column;
    m["weight_sum"] = weight_;
  }
  m["nll"] = nll_ / n;
  if (cells_ > 0) m["nll_cell"] = cell_nll_ / cells;
  m["rmse"] = std::sqrt(sq / (n * dy));
  m["mae"] = ab / (n * dy);
  m["crps"] = cr / (n * dy);
  m["coverage"] = cov[0] / (n * dy);
  m["interval"] = intervals.at(0);
  if (several) m["coverage_intervals"] = interval_coverage_json(intervals, cov, n * dy);
  m["mean_ess"] = ess_ / rows_n;
  m["samples"] = samples;
  m["seed"] = seed;
  const std::vector<std::vector<long>> fine = pit_counts();
  std::vector<long> pooled(kPitFineBins, 0);
  for (const auto& counts : fine) {
    for (int b = 0; b < kPitFineBins; ++b) pooled[b] += counts[b];
  }
  std::vector<double> pooled_covered(kReportedLevelCount, 0.0);
  for (int d = 0; d < targets_; ++d) {
    for (int k = 0; k < kReportedLevelCount; ++k) {
      pooled_covered[k] += covered_at_[static_cast<std::size_t>(d) * kReportedLevelCount + k];
    }
  }
  m["coverage_levels"] = coverage_levels_json(pooled_covered.data(), n * dy);
  m["pit_histogram"] = pit_histogram(pooled, 10);
  nlohmann::ordered_json per_target = nlohmann::ordered_json::object();
  for (int d = 0; d < targets_; ++d) {
    const std::vector<double> covered(covered_.begin() + d * levels_, covered_.begin() + (d + 1) * levels_);
    nlohmann::ordered_json t = {{"rmse", std::sqrt(squared_[d] / n)},
                                {"mae", absolute_[d] / n},
                                {"crps", crps_[d] / n},
                                {"coverage", covered[0] / n}};
    if (several) t["coverage_intervals"] = interval_coverage_json(intervals, covered, n);
    t["coverage_levels"] = coverage_levels_json(&covered_at_[static_cast<std::size_t>(d) * kReportedLevelCount], n);
    t["pit_histogram"] = pit_histogram(fine[d], 10);
    per_target[targets[d]] = std::move(t);
  }
  m["targets"] = per_target;
  return m;
}

}  // namespace ebm
