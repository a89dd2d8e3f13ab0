// Honesty check of the densities ebm-predict reports, for a checkpoint with one target.
//   grid-nll MODEL.json TEST.csv [--grid LO HI N] [--samples M] [--seed S] [--ebm-grid]
// For every test row it takes the density that `ebm-predict --logpdf` reports (the same
// estimator, random streams and support) and integrates it over y on a fine grid of N
// points over [LO, HI] (original units; the paper's [-12.5, 12.5] with 8192 points by
// default). A density that is honestly normalised has mass 1 there (up to the mass outside
// the grid). Prints one JSON object:
//   test_nll_reported     mean -log p(y|x) as reported
//   test_nll_grid         the same density renormalised by each row's grid mass
//   mass_min, mass_max    extreme row masses; rows_off_10pct: rows with |mass - 1| > 0.1
//   test_nll_ebm_grid     with --ebm-grid: exp f(x,y) normalised on the grid alone (no support, no proposal); first member
//   test_nll_proposal     the proposal's NLL (of the first member of an ensemble)
// An ensemble's density is the mixture of its members' (ensemble.h), as ebm-predict reports it.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/csv.h"
#include "ebm/ensemble.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/input_chunks.h"
#include "ebm/proposal.h"

namespace {

struct Arguments {
  double lo = -12.5, hi = 12.5;
  int points = 8192, samples = 1024;
  std::uint64_t seed = 0;
  bool ebm_grid = false;  // also normalise exp f on the grid alone (twice the work)
};

bool parse(int argc, char** argv, Arguments& a) {
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--grid" && i + 3 < argc) {
      a.lo = std::atof(argv[++i]);
      a.hi = std::atof(argv[++i]);
      a.points = std::atoi(argv[++i]);
    } else if (arg == "--samples" && i + 1 < argc) {
      a.samples = std::atoi(argv[++i]);
    } else if (arg == "--ebm-grid") {
      a.ebm_grid = true;
    } else if (arg == "--seed" && i + 1 < argc) {
      a.seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::cerr << "grid-nll: unknown argument " << arg << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Arguments a;
    if (argc < 3 || !parse(argc, argv, a)) {
      std::cerr << "usage: grid-nll MODEL.json TEST.csv [--grid LO HI N] [--samples M] [--seed S] [--ebm-grid]\n";
      return 2;
    }
    const ebm::Checkpoint c = ebm::load_checkpoint(argv[1]);
    const ebm::EnergyModel model(c.architecture);
    const std::vector<ebm::Member> members = ebm::ensemble_members(c);
    // The rows as ebm-predict reads them (input_chunks.h): features encoded (categorical
    // one-hot, missing values imputed), y standardised, each row's random stream.
    ebm::CsvReader reader(argv[2]);
    const ebm::InputColumns columns = ebm::resolve_columns(reader, c, {}, true, "grid-nll");
    ebm::InputChunk chunk;
    ebm::EncodingCounts counts;
    if (!ebm::read_chunk(reader, c, columns, std::numeric_limits<int>::max(), 0, chunk, counts)) {
      throw ebm::DataError(std::string(argv[2]) + ": no rows");
    }
    const Eigen::Index n = chunk.rows();
    const ebm::Matrix<float>& x = chunk.x_std;
    const ebm::Matrix<float> y = chunk.y_std.topRows(1);
    const std::vector<std::uint64_t>& streams = chunk.streams;
    // Grid in original units -> standardised units; densities per original unit subtract
    // log scale.
    const double slo = c.y_scaler.to_standard(0, a.lo), shi = c.y_scaler.to_standard(0, a.hi);
    const std::vector<double> ebm_grid =
        a.ebm_grid ? ebm::grid_log_density(model, c.params, x, y, slo, shi, a.points) : std::vector<double>(n, NAN);
    const ebm::TargetSupport support = ebm::standardised_support(c);
    const double log_scale = std::log(c.y_scaler.scale[0]);
    double nll_reported = 0, nll_grid = 0, nll_ebm_grid = 0, nll_q = 0;
    double mass_min = std::numeric_limits<double>::infinity(), mass_max = 0;
    long off = 0;
    // Blocks of rows, each row with its own stream: every row's result is a function of that
    // row alone (inference.h), exactly what ebm-predict computes for it; the block only
    // bounds memory and lets the grid's share of the energy network be computed once.
    constexpr Eigen::Index kBlockRows = 64;
    for (Eigen::Index first = 0; first < n; first += kBlockRows) {
      const Eigen::Index count = std::min(kBlockRows, n - first);
      const std::vector<std::uint64_t> block_streams(streams.begin() + first, streams.begin() + first + count);
      const ebm::EnsembleSample es = ebm::ensemble_importance_sample(members, x.middleCols(first, count),
                                                                     a.samples, a.seed, first, &block_streams, support);
      const std::vector<double> lps = ebm::ensemble_log_density(members, es, y.middleCols(first, count));
      const std::vector<double> masses = ebm::ensemble_reported_masses(members, es, slo, shi, a.points);
      for (Eigen::Index b = 0; b < count; ++b) {
        const Eigen::Index r = first + b;
        const double lp = lps[b], mass = masses[b];
        mass_min = std::min(mass_min, mass);
        mass_max = std::max(mass_max, mass);
        off += std::abs(mass - 1) > 0.1 ? 1 : 0;
        nll_reported -= lp - log_scale;
        nll_grid -= lp - std::log(mass) - log_scale;
        nll_ebm_grid -= ebm_grid[r] - log_scale;
        // member 1's proposal
        nll_q -= ebm::mdn_log_density(es.members[0].proposal, static_cast<int>(b), y.col(r).data()) - log_scale;
      }
    }
    nlohmann::ordered_json out;
    out["rows"] = n;
    out["test_nll_reported"] = nll_reported / n;
    out["test_nll_grid"] = nll_grid / n;
    out["mass_min"] = mass_min;
    out["mass_max"] = mass_max;
    out["rows_off_10pct"] = off;
    if (a.ebm_grid) out["test_nll_ebm_grid"] = nll_ebm_grid / n;
    out["test_nll_proposal"] = nll_q / n;
    out["grid"] = {a.lo, a.hi, a.points};
    out["samples"] = a.samples;
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const ebm::Error& e) {
    std::cerr << "grid-nll: error: " << e.what() << "\n";
    return e.exit_code();
  }
}
