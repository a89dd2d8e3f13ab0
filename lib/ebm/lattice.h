// Targets that take values on a lattice {origin + k * step} (integer scores and counts,
// prices in cents, sensors with a fixed resolution).
//
// A continuous density fitted to such values by maximum likelihood can grow spikes at
// the lattice points (the likelihood of a spike is unbounded), so its continuous NLL looks
// spectacular while the probability it gives to the observed value is poor and its
// intervals and samples are meaningless. ebm-train detects the lattice, trains on
// dequantised targets y + step * (u - 1/2), u ~ U(0, 1) (a smooth density whose cell
// masses are the lattice probabilities), and ebm-predict --metrics reports the
// probability of the observed cell, P(y - step/2 <= Y <= y + step/2).
#pragma once

#include <string>

#include <Eigen/Core>

namespace ebm {

struct Lattice {
  double step = 0;    // 0: continuous
  double origin = 0;  // the smallest value seen
  long values = 0;    // distinct values seen
  bool discrete() const { return step > 0; }
  double snap(double y) const;  // the nearest lattice point (y itself when continuous)
};

// A lattice is reported when every value is origin + k * step with at most kMaxDecimals
// decimals (exactly, up to the rounding of parsing) and the step is at least
// kMinStepPerStd standard deviations of the values: coarser than that, the cells are wide
// enough for spikes to matter; finer (a price in cents around 100), the values are
// effectively continuous and nothing changes.
constexpr int kMaxDecimals = 6;
constexpr double kMinStepPerStd = 0.02;
Lattice detect_lattice(const Eigen::VectorXd& values);

// "a lattice of step 1 (7 values from 3 to 9)" for messages.
std::string describe(const Lattice& lattice, double max_value);

}  // namespace ebm
