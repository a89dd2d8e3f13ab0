#include "ebm/lattice.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "ebm/csv.h"

namespace ebm {

double Lattice::snap(double y) const {
  if (!discrete()) return y;
  return origin + std::round((y - origin) / step) * step;
}

namespace {

// The values times 10^decimals as integers, if all of them are integers at that scale
// (within the rounding of a parsed decimal) and small enough to be exact in a double.
bool scaled_integers(const std::vector<double>& values, int decimals, std::vector<std::int64_t>& out) {
  const double scale = std::pow(10.0, decimals);
  out.clear();
  for (double v : values) {
    const double scaled = v * scale;
    if (!(std::abs(scaled) < 9.0e15)) return false;
    const double rounded = std::round(scaled);
    if (std::abs(scaled - rounded) > 1e-9 * std::max(1.0, std::abs(scaled))) return false;
    out.push_back(static_cast<std::int64_t>(rounded));
  }
  return true;
}

}  // namespace

Lattice detect_lattice(const Eigen::VectorXd& column) {
  Lattice lattice;
  std::vector<double> values(column.data(), column.data() + column.size());
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  if (values.size() < 2 || column.size() < 3) return lattice;
  const double mean = column.mean();
  const double sd = std::sqrt((column.array() - mean).square().sum() / static_cast<double>(column.size() - 1));
  std::vector<std::int64_t> integers;
  for (int decimals = 0; decimals <= kMaxDecimals; ++decimals) {
    if (!scaled_integers(values, decimals, integers)) continue;
    std::int64_t divisor = 0;
    for (std::int64_t n : integers) divisor = std::gcd(divisor, n - integers.front());
    const double step = static_cast<double>(divisor) / std::pow(10.0, decimals);
    if (step >= kMinStepPerStd * sd) {
      lattice.step = step;
      lattice.origin = values.front();
      lattice.values = static_cast<long>(values.size());
    }
    return lattice;
  }
  return lattice;
}

std::string describe(const Lattice& lattice, double max_value) {
  return "a lattice of step " + format_number(lattice.step, 6) + " (" + std::to_string(lattice.values) +
         " values from " + format_number(lattice.origin, 6) + " to " + format_number(max_value, 6) + ")";
}

}  // namespace ebm
