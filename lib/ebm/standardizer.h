// Per-column affine standardisation z = (v - mean) / scale, fitted on training data.
// Densities transform with the Jacobian: log p(y) = log p(z) - sum_d log scale_d.
#pragma once

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
    const Eigen::Index n = values.rows();
    for (Eigen::Index j = 0; j < values.cols(); ++j) {
      const double m = values.col(j).mean();
      double var = n > 1 ? (values.col(j).array() - m).square().sum() / static_cast<double>(n - 1) : 0.0;
      double sd = std::sqrt(var);
      if (!(sd > 1e-12 * std::max(1.0, std::abs(m)))) sd = 1.0;
      s.mean.push_back(m);
      s.scale.push_back(sd);
    }
    return s;
  }

  int size() const { return static_cast<int>(mean.size()); }
  double to_standard(int j, double v) const { return (v - mean[j]) / scale[j]; }
  double to_original(int j, double z) const { return z * scale[j] + mean[j]; }
  double log_jacobian() const {  // sum_j log scale_j
    double s = 0;
    for (double v : scale) s += std::log(v);
    return s;
  }
};

}  // namespace ebm
