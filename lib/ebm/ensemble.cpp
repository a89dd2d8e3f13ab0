#include "ebm/ensemble.h"

#include <cmath>
#include <limits>

#include "ebm/proposal.h"
#include "ebm/rng.h"
#include "ebm/streams.h"

namespace ebm {

namespace {

// Equal weights (1/N each): the mixture is then computed as LSE - log N and w / N, to the
// last bit what it was before members had weights.
bool equal_weights(const std::vector<Member>& members) {
  for (const Member& m : members) {
    if (m.weight != members[0].weight) return false;
  }
  return true;
}

// log sum_n w_n exp v_n. Exactly v_0 for one member (log_sum_exp of one value is that
// value, and log 1 = 0), so a single model's figures do not change. A member of weight 0
// contributes exp(-inf) = 0.
double log_mix(const std::vector<Member>& members, std::vector<double>& values) {
  const int count = static_cast<int>(values.size());
  if (equal_weights(members)) return log_sum_exp(values.data(), count) - std::log(static_cast<double>(count));
  for (std::size_t n = 0; n < members.size(); ++n) values[n] += std::log(members[n].weight);
  return log_sum_exp(values.data(), count);
}

// The union of the members' candidates, member n's weights times w_n (see EnsembleSample).
ImportanceSample mix_members(const std::vector<ImportanceSample>& members, const std::vector<Member>& models) {
  const ImportanceSample& first = members[0];
  const int count = static_cast<int>(members.size()), per_member = first.samples, rows = first.rows;
  ImportanceSample mixture;
  mixture.rows = rows;
  mixture.samples = count * per_member;
  mixture.y_dim = first.y_dim;
  mixture.support = first.support;
  const Eigen::Index columns = static_cast<Eigen::Index>(rows) * mixture.samples;
  mixture.y.resize(first.y_dim, columns);
  mixture.weights.resize(mixture.samples, rows);
  if (first.quadrature()) {
    mixture.cell_lo.resize(1, columns);
    mixture.cell_hi.resize(1, columns);
  }
  mixture.ess.resize(static_cast<std::size_t>(rows));
  const bool equal = equal_weights(models);
  for (int e = 0; e < rows; ++e) {
    for (int n = 0; n < count; ++n) {
      const Eigen::Index to =
          static_cast<Eigen::Index>(e) * mixture.samples + static_cast<Eigen::Index>(n) * per_member;
      const Eigen::Index from = static_cast<Eigen::Index>(e) * per_member;
      mixture.y.middleCols(to, per_member) = members[n].y.middleCols(from, per_member);
      mixture.weights.col(e).segment(static_cast<Eigen::Index>(n) * per_member, per_member) =
          equal ? Eigen::VectorXd(members[n].weights.col(e) / static_cast<double>(count))
                : Eigen::VectorXd(members[n].weights.col(e) * models[n].weight);
      if (first.quadrature()) {
        mixture.cell_lo.middleCols(to, per_member) = members[n].cell_lo.middleCols(from, per_member);
        mixture.cell_hi.middleCols(to, per_member) = members[n].cell_hi.middleCols(from, per_member);
      }
    }
    mixture.ess[e] = 1.0 / mixture.weights.col(e).squaredNorm();
  }
  return mixture;
}

}  // namespace

std::uint64_t member_seed(std::uint64_t seed, int member) {
  if (member == 0) return seed;
  std::uint64_t state = streams::kEnsembleMember + static_cast<std::uint64_t>(member);
  return seed ^ splitmix64(state);
}

EnsembleSample ensemble_importance_sample(const std::vector<Member>& members, const Matrix<float>& x_std, int samples,
                                          std::uint64_t seed, std::uint64_t first_row,
                                          const std::vector<std::uint64_t>* row_streams, const TargetSupport& support) {
  EnsembleSample es;
  for (std::size_t n = 0; n < members.size(); ++n) {
    es.members.push_back(importance_sample(members[n].model, members[n].params, x_std, samples,
                                           member_seed(seed, static_cast<int>(n)), first_row, row_streams, support));
  }
  if (members.size() > 1) es.mixture = mix_members(es.members, members);
  return es;
}

std::vector<double> ensemble_log_density(const std::vector<Member>& members, const EnsembleSample& es,
                                         const Matrix<float>& y_std) {
  std::vector<std::vector<double>> per_member;
  for (std::size_t n = 0; n < members.size(); ++n) {
    per_member.push_back(log_density(members[n].model, members[n].params, es.members[n], y_std));
  }
  std::vector<double> out(per_member[0].size()), terms(members.size());
  for (std::size_t e = 0; e < out.size(); ++e) {
    for (std::size_t n = 0; n < members.size(); ++n) terms[n] = per_member[n][e];
    out[e] = log_mix(members, terms);
  }
  return out;
}

double ensemble_cell_log_probability(const std::vector<Member>& members, const EnsembleSample& es, int row, double y,
                                     double half_width) {
  std::vector<double> terms;
  for (std::size_t n = 0; n < members.size(); ++n) {
    terms.push_back(cell_log_probability(members[n].model, members[n].params, es.members[n], row, y, half_width));
  }
  return log_mix(members, terms);
}

std::vector<double> ensemble_reported_masses(const std::vector<Member>& members, const EnsembleSample& es, double lo,
                                             double hi, int points) {
  std::vector<double> total;
  const bool equal = equal_weights(members);
  for (std::size_t n = 0; n < members.size(); ++n) {
    const std::vector<double> mass =
        reported_masses(members[n].model, members[n].params, es.members[n], lo, hi, points);
    if (total.empty()) total.assign(mass.size(), 0.0);
    for (std::size_t r = 0; r < mass.size(); ++r) total[r] += equal ? mass[r] : members[n].weight * mass[r];
  }
  if (equal) {
    for (double& t : total) t /= static_cast<double>(members.size());
  }
  return total;
}

std::vector<double> ensemble_ebm_density(const std::vector<Member>& members, const EnsembleSample& es, int row,
                                         const Matrix<float>& y_std) {
  const int points = static_cast<int>(y_std.cols());
  std::vector<std::vector<double>> log_densities(static_cast<std::size_t>(points));
  for (std::size_t n = 0; n < members.size(); ++n) {
    const ImportanceSample& is = es.members[n];
    const RowVector<float> f =
        members[n].model.energy(members[n].params.data(), Matrix<float>(is.hx.col(row)), y_std, points);
    for (int j = 0; j < points; ++j) {
      // p_n(y|x) = 0 outside the support (a version 2 checkpoint's).
      const bool inside = is.support.empty() || is.support.contains(0, y_std(0, j));
      log_densities[j].push_back(inside ? static_cast<double>(f(j)) - is.log_z[row]
                                        : -std::numeric_limits<double>::infinity());
    }
  }
  std::vector<double> out(static_cast<std::size_t>(points));
  for (int j = 0; j < points; ++j) out[j] = log_mix(members, log_densities[j]);
  return out;
}

Matrix<float> ensemble_modes(const std::vector<Member>& members, const EnsembleSample& es, int steps,
                             double initial_step) {
  Matrix<float> best = find_modes(members[0].model, members[0].params, es.members[0], steps, initial_step);
  if (members.size() == 1) return best;
  std::vector<double> best_log_density = ensemble_log_density(members, es, best);
  for (std::size_t n = 1; n < members.size(); ++n) {
    const Matrix<float> modes = find_modes(members[n].model, members[n].params, es.members[n], steps, initial_step);
    const std::vector<double> log_densities = ensemble_log_density(members, es, modes);
    for (int e = 0; e < es.members[n].rows; ++e) {
      if (log_densities[e] > best_log_density[e]) {
        best.col(e) = modes.col(e);
        best_log_density[e] = log_densities[e];
      }
    }
  }
  return best;
}

Matrix<float> ensemble_resample(const std::vector<Member>& members, const EnsembleSample& es, int draws,
                                int langevin_steps, double step, std::uint64_t seed, std::uint64_t first_row,
                                const std::vector<std::uint64_t>* row_streams) {
  if (members.size() == 1) {
    return resample(members[0].model, members[0].params, es.members[0], draws, langevin_steps, step, seed, first_row,
                    row_streams);
  }
  const ImportanceSample& mixture = es.mixture;
  Matrix<float> y(mixture.y_dim, static_cast<Eigen::Index>(mixture.rows) * draws);
  std::vector<int> chosen;
  for (int e = 0; e < mixture.rows; ++e) {
    Rng rng(seed ^ streams::kResample, row_streams != nullptr ? (*row_streams)[e] : first_row + e);
    const Eigen::Index first_column = static_cast<Eigen::Index>(e) * draws;
    resample_row(mixture, e, draws, rng, y, first_column, &chosen);
    if (langevin_steps <= 0) continue;
    // Each member's draws of this row, refined together under that member.
    for (std::size_t n = 0; n < members.size(); ++n) {
      std::vector<Eigen::Index> columns;
      for (int i = 0; i < draws; ++i) {
        if (es.member_of(chosen[i]) == static_cast<int>(n)) columns.push_back(first_column + i);
      }
      if (columns.empty()) continue;
      Matrix<float> member_draws(mixture.y_dim, static_cast<Eigen::Index>(columns.size()));
      for (std::size_t i = 0; i < columns.size(); ++i) member_draws.col(i) = y.col(columns[i]);
      const Matrix<float> hx = es.members[n].hx.col(e);
      langevin_refine(members[n].model, members[n].params, hx, member_draws, static_cast<int>(columns.size()),
                      langevin_steps, step, {&rng}, mixture.support);
      for (std::size_t i = 0; i < columns.size(); ++i) y.col(columns[i]) = member_draws.col(i);
    }
  }
  return y;
}

}  // namespace ebm
