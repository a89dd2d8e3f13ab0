// Central finite differences for gradient checks (double precision).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace ebm::testing {

// Largest relative error |a - n| / max(1e-4, |a| + |n|) between an analytic gradient and
// the central difference (f(p + h e_i) - f(p - h e_i)) / 2h, over the checked indices.
inline double max_relative_gradient_error(const std::function<double(const std::vector<double>&)>& f,
                                          std::vector<double> point, const std::vector<double>& analytic,
                                          const std::vector<std::size_t>& indices, double h = 1e-6,
                                          std::string* worst = nullptr) {
  double max_error = 0;
  for (std::size_t i : indices) {
    const double saved = point[i];
    point[i] = saved + h;
    const double plus = f(point);
    point[i] = saved - h;
    const double minus = f(point);
    point[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    const double error = std::abs(analytic[i] - numeric) / std::max(1e-4, std::abs(analytic[i]) + std::abs(numeric));
    if (error > max_error) {
      max_error = error;
      if (worst != nullptr) {
        *worst = "index " + std::to_string(i) + ": analytic " + std::to_string(analytic[i]) + ", numeric " +
                 std::to_string(numeric);
      }
    }
  }
  return max_error;
}

inline std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = i;
  return out;
}

}  // namespace ebm::testing
