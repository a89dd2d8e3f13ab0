// Per-column affine standardisation z = (v - mean) / scale, fitted on training data.
// Densities transform with the Jacobian: log p(y) = log p(z) - sum_d log scale_d.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

namespace ebm {

struct Standardizer {
  std::vector<double> mean, scale;

  // values: rows x columns (one column per variable). A constant column gets scale 1,
  // so it maps to 0 instead of dividing by zero.
  static Standardizer fit(const Eigen::MatrixXd& values) {
    Standardizer s;
    for (Eigen::Index j = 0; j < values.cols(); ++j) {
      double m = 0, sd = 0;
      moments(values.col(j), m, sd);
      if (!std::isfinite(m) || !std::isfinite(sd)) {
        // Values near the top of the double range overflow the sum of squares (1e160 among
        // 300 rows) or even the sum (1e308): the same moments of v / max|v|, scaled back.
        const double top = values.col(j).cwiseAbs().maxCoeff();
        moments(values.col(j) / top, m, sd);
        m *= top;
        sd *= top;
      }
      if (!(sd > 1e-12 * std::max(1.0, std::abs(m)))) sd = 1.0;
      s.mean.push_back(m);
      s.scale.push_back(sd);
    }
    return s;
  }

  // Index of the first column whose mean or scale is not finite (the values span more than
  // a double can hold), or -1.
  int first_non_finite() const {
    for (int j = 0; j < size(); ++j) {
      if (!std::isfinite(mean[j]) || !std::isfinite(scale[j])) return j;
    }
    return -1;
  }

  // Index of the first column where a value kMaxStandardised standard deviations from the
  // mean is beyond the double range, or -1. Outputs (draws, means, quantiles) lie within a
  // few standard deviations, so such a column would print inf; training refuses to write
  // it, loading refuses to read it.
  static constexpr double kMaxStandardised = 1e6;
  int first_out_of_range() const {
    for (int j = 0; j < size(); ++j) {
      if (!std::isfinite(std::abs(mean[j]) + kMaxStandardised * scale[j])) return j;
    }
    return -1;
  }

  int size() const { return static_cast<int>(mean.size()); }
  double to_standard(int j, double v) const { return (v - mean[j]) / scale[j]; }
  double to_original(int j, double z) const { return z * scale[j] + mean[j]; }
  // Mean and sample standard deviation (n - 1) of a column.
  template <typename Column>
  static void moments(const Column& column, double& mean, double& sd) {
    const Eigen::Index n = column.size();
    mean = column.mean();
    const double var = n > 1 ? (column.array() - mean).square().sum() / static_cast<double>(n - 1) : 0.0;
    sd = std::sqrt(var);
  }

  double log_jacobian() const {  // sum_j log scale_j
    double s = 0;
    for (double v : scale) s += std::log(v);
    return s;
  }
};

}  // namespace ebm
