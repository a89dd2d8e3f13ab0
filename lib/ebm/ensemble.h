// Ensembles as mixtures of normalised densities (docs/maths.md §8c):
//   p(y|x) = sum_n w_n p_n(y|x),   p_n(y|x) = exp f_n(x, y) / Z_n(x),   sum_n w_n = 1,
// w_n = 1/N unless the checkpoint says otherwise; each member's log Z_n(x) estimated on its
// own, from its own proposal draws (or quadrature over the support), exactly as for a
// single model. Not a product of energies: mixing normalised densities keeps the result
// normalised whatever the members' Z_n. Members may differ in architecture (an x-embedding
// mix): each has its own model.
//
// Every function here gives, for a single member (N = 1), exactly what the single-model
// function of inference.h gives: it calls it.
#pragma once

#include <cstdint>
#include <vector>

#include "ebm/inference.h"

namespace ebm {

// One member of an ensemble: its model, parameters and mixture weight w_n.
struct Member {
  EnergyModel model;
  ParamVector params;
  double weight = 1.0;
};

// The proposal seed of member n: member 0 keeps `seed` (a single model's results do not
// change); member n > 0 gets seed ^ splitmix64(kEnsembleMember + n), an independent stream,
// so the members' Monte Carlo errors do not move together.
std::uint64_t member_seed(std::uint64_t seed, int member);

// The importance samples of every member for a block of rows, and their mixture: the
// union of the members' weighted candidates, row e's block holding member 0's C candidates,
// then member 1's, ..., member n's importance weights multiplied by w_n. Since each member's weights are a normalised
// distribution, these are exactly the mixture's weighted candidates, so every estimator of
// inference.h that reads only candidates and weights (moments, sort_draws, quantiles, CRPS,
// PIT, ESS, resample_row) applies to `mixture` unchanged. Its hx, proposal, energies and
// log Z are left empty (they belong to the members).
struct EnsembleSample {
  std::vector<ImportanceSample> members;
  ImportanceSample mixture;  // only with two members or more
  const ImportanceSample& combined() const { return members.size() == 1 ? members[0] : mixture; }
  // The member a candidate (index within its row's block of `combined()`) came from.
  int member_of(int candidate) const { return candidate / members[0].samples; }
};

// importance_sample for every member (seed member_seed(seed, n)), and their mixture.
EnsembleSample ensemble_importance_sample(const std::vector<Member>& members, const Matrix<float>& x_std, int samples,
                                          std::uint64_t seed, std::uint64_t first_row,
                                          const std::vector<std::uint64_t>* row_streams, const TargetSupport& support);

// log p(y|x) = LSE_n (log w_n + log p_n(y|x)), each log p_n as log_density reports it.
std::vector<double> ensemble_log_density(const std::vector<Member>& members, const EnsembleSample& es,
                                         const Matrix<float>& y_std);
// The mixture's cell probability: LSE_n (log w_n + log P_n(cell)) (see cell_log_probability).
double ensemble_cell_log_probability(const std::vector<Member>& members, const EnsembleSample& es, int row, double y,
                                     double half_width);
// The honesty check of the mixture's reported density, every row: the w-weighted sum of
// the members' masses (the trapezoid rule is linear in the density).
std::vector<double> ensemble_reported_masses(const std::vector<Member>& members, const EnsembleSample& es, double lo,
                                             double hi, int points);
// The mixture's density without the defensive share, exp f_n - log Z_n inside the support
// mixed with the weights w_n, at the points y_std (1 x P) of row `row` (standardised units;
// the --plot heat map).
std::vector<double> ensemble_ebm_density(const std::vector<Member>& members, const EnsembleSample& es, int row,
                                         const Matrix<float>& y_std);

// Each member's mode (find_modes), and of these, per row, the one with the highest mixture
// log-density: a local maximum of some p_n, usually near one of the mixture's.
Matrix<float> ensemble_modes(const std::vector<Member>& members, const EnsembleSample& es, int steps,
                             double initial_step);

// N draws per row from the mixture: systematic resampling of the combined weighted
// candidates (resample_row, the row's kResample stream), then `langevin_steps` MALA steps
// for each draw under the member it came from. A draw from component n moved by a
// p_n-invariant kernel is still a draw from p_n, so the draws stay draws from the mixture.
Matrix<float> ensemble_resample(const std::vector<Member>& members, const EnsembleSample& es, int draws,
                                int langevin_steps, double step, std::uint64_t seed, std::uint64_t first_row,
                                const std::vector<std::uint64_t>* row_streams);

}  // namespace ebm
