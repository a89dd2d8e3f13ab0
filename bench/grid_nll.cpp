// Grid-normalised test NLL of a checkpoint with a one-dimensional target, next to the
// proposal's NLL and the importance-sampling estimate, all in the original units of y.
//   grid-nll MODEL.json TEST.csv [--grid LO HI N] [--samples M] [--seed S]
// Prints one JSON object. The grid is in the original units of y (the paper's
// [-12.5, 12.5] with 8192 points by default), so the result is comparable with the
// reference loop, which trains on raw data.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/proposal.h"

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::cerr << "usage: grid-nll MODEL.json TEST.csv [--grid LO HI N] [--samples M] [--seed S]\n";
      return 2;
    }
    double lo = -12.5, hi = 12.5;
    int points = 8192, samples = 1024;
    std::uint64_t seed = 0;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--grid" && i + 3 < argc) {
        lo = std::atof(argv[++i]);
        hi = std::atof(argv[++i]);
        points = std::atoi(argv[++i]);
      } else if (a == "--samples" && i + 1 < argc) {
        samples = std::atoi(argv[++i]);
      } else if (a == "--seed" && i + 1 < argc) {
        seed = std::strtoull(argv[++i], nullptr, 10);
      } else {
        std::cerr << "grid-nll: unknown argument " << a << "\n";
        return 2;
      }
    }
    const ebm::Checkpoint c = ebm::load_checkpoint(argv[1]);
    const ebm::EnergyModel model(c.architecture);
    std::vector<std::string> needed = c.features;
    needed.push_back(c.targets.at(0));
    const ebm::Table t = ebm::read_table(argv[2], {}, needed);
    const Eigen::Index n = static_cast<Eigen::Index>(t.rows());
    ebm::Matrix<float> x(c.features.size(), n), y(1, n);
    for (Eigen::Index r = 0; r < n; ++r) {
      for (std::size_t j = 0; j < c.features.size(); ++j) {
        x(j, r) = static_cast<float>(c.x_scaler.to_standard(j, t.values(r, t.column_index(c.features[j]))));
      }
      y(0, r) = static_cast<float>(c.y_scaler.to_standard(0, t.values(r, t.column_index(c.targets[0]))));
    }
    // Grid in original units -> standardised units; the density is then normalised over
    // the original-unit range, so no separate Jacobian term is needed.
    const double slo = c.y_scaler.to_standard(0, lo), shi = c.y_scaler.to_standard(0, hi);
    const std::vector<double> grid = ebm::grid_log_density(model, c.params, x, y, slo, shi, points);
    const double log_scale = std::log(c.y_scaler.scale[0]);
    double nll_grid = 0, nll_is = 0, nll_q = 0, abs_diff = 0;
    const Eigen::Index block = 64;
    for (Eigen::Index b = 0; b < n; b += block) {
      const Eigen::Index count = std::min(block, n - b);
      const ebm::ImportanceSample is =
          ebm::importance_sample(model, c.params, x.middleCols(b, count), samples, seed, b);
      const std::vector<double> lp = ebm::log_density(model, c.params, is, y.middleCols(b, count));
      for (Eigen::Index e = 0; e < count; ++e) {
        // grid[] is a density per standardised unit; per original unit p_orig = p_std / scale.
        const double grid_lp = grid[b + e] - log_scale;
        const double is_lp = lp[e] - log_scale;
        nll_grid -= grid_lp;
        nll_is -= is_lp;
        abs_diff += std::abs(grid_lp - is_lp);
        const float* yy = y.col(b + e).data();
        nll_q -= ebm::mdn_log_density(is.proposal, static_cast<int>(e), yy) - log_scale;
      }
    }
    nlohmann::ordered_json out;
    out["rows"] = n;
    out["test_nll_ebm_grid"] = nll_grid / n;
    out["test_nll_ebm_is"] = nll_is / n;
    out["mean_abs_is_minus_grid"] = abs_diff / n;
    out["test_nll_proposal"] = nll_q / n;
    out["grid"] = {lo, hi, points};
    out["samples"] = samples;
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const ebm::Error& e) {
    std::cerr << "grid-nll: error: " << e.what() << "\n";
    return e.exit_code();
  }
}
