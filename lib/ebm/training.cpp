#include "ebm/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>

#include "ebm/adam.h"
#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/proposal.h"
#include "ebm/rng.h"
#include "ebm/streams.h"
#include "ebm/thread_pool.h"

namespace ebm {

namespace {
// Examples per work unit: about eight units per batch, so that 1, 2, 4 or 8 threads share
// a batch evenly (the earlier rule, at most 4096 candidate columns per unit, gave 11 units
// of 3 examples at M = 1024 and B = 32, and the second of two threads idled on the odd
// unit: 8% of an epoch), capped at kTaskColumns candidate columns so that a unit's activations
// stay bounded for large M. Unit size did not measurably change single-thread speed
// between 1025 and 4100 columns. Depends only on M and B, never on the thread count.
int examples_per_chunk(int candidates, int batch_size) {
  return std::max(1, std::min((batch_size + 7) / 8, kTaskColumns / candidates));
}
}  // namespace

template <typename S>
BatchCandidates<S> draw_candidates(const MdnOutput<S>& q, const Matrix<S>& y_batch, const std::vector<int>& indices,
                                   const TrainSettings& settings, std::uint64_t stream_base) {
  const int examples = static_cast<int>(indices.size());
  const int dy = static_cast<int>(y_batch.rows());
  const int m_count = settings.samples;
  const int candidates = m_count + 1;
  const CenteredMixture mixture{settings.gmm_sigmas};
  const bool learned = settings.noise == NoiseKind::learned;
  BatchCandidates<S> out;
  out.y.resize(dy, static_cast<Eigen::Index>(examples) * candidates);
  out.log_noise.resize(candidates, examples);
  out.responsibilities.resize(learned ? examples : 0);
  std::vector<S> eps(dy), target(dy);
  for (int e = 0; e < examples; ++e) {
    Rng rng(settings.seed ^ streams::kTrain, stream_base + static_cast<std::uint64_t>(indices[e]));
    const Eigen::Index base = static_cast<Eigen::Index>(e) * candidates;
    // Lattice targets are dequantised, y + step (u - 1/2) with a fresh u every epoch: the
    // model sees a density whose cell masses are the lattice probabilities (lattice.h).
    // Continuous targets draw nothing here, so their random streams are as before.
    for (int d = 0; d < dy; ++d) target[d] = y_batch(d, e);
    for (int d = 0; d < dy && d < static_cast<int>(settings.lattice_step.size()); ++d) {
      if (settings.lattice_step[d] > 0) target[d] += S(settings.lattice_step[d] * (rng.uniform() - 0.5));
    }
    std::fill(eps.begin(), eps.end(), S(0));
    if (settings.objective == Objective::nce_plus) {
      mixture.sample_offset(rng, dy, eps.data(), settings.nce_plus_beta);
    }
    for (int d = 0; d < dy; ++d) out.y(d, base) = target[d] + eps[d];
    if (learned) {
      mdn_sample_batch(q, e, rng, out.y.middleCols(base + 1, m_count));
      // log q of all C candidates (the data point and the draws) in one vectorised pass;
      // NCE+ scores the perturbed target with the noise density (method ref. A.5).
      mdn_log_density_batch(q, e, out.y.middleCols(base, candidates), out.log_noise.col(e).data(),
                            &out.responsibilities[e]);
    } else {
      out.log_noise(0, e) = mixture.log_density(eps.data(), dy);
      for (int m = 1; m <= m_count; ++m) {
        mixture.sample_offset(rng, dy, eps.data());
        for (int d = 0; d < dy; ++d) out.y(d, base + m) = target[d] + eps[d];
        out.log_noise(m, e) = mixture.log_density(eps.data(), dy);
      }
    }
  }
  return out;
}

template BatchCandidates<float> draw_candidates<float>(const MdnOutput<float>&, const Matrix<float>&,
                                                       const std::vector<int>&, const TrainSettings&, std::uint64_t);
template BatchCandidates<double> draw_candidates<double>(const MdnOutput<double>&, const Matrix<double>&,
                                                         const std::vector<int>&, const TrainSettings&, std::uint64_t);

namespace {

// Energies f (1 x E*C) of the candidates and what their backward pass needs. Narrow float
// networks take the lane path (EnergyModel::energy_lanes: 8 candidates per vector through
// all layers, no GEMM on 10-row panels); the double instantiation (gradient checks) and
// wide networks take the matrix path.
template <typename S>
struct CandidateEnergies {
  static constexpr bool kFloat = std::is_same_v<S, float>;
  bool lanes = false;
  RowVector<S> f;
  EnergyCache<S> matrix_cache;
  EnergyLaneCache lane_cache;

  CandidateEnergies(const EnergyModel& model, const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                    int candidates)
      : lanes(kFloat && model.lanes_apply()) {
    if constexpr (kFloat) {
      if (lanes) f = model.energy_lanes(params, hx, y, candidates, &lane_cache);
    }
    if (!lanes) f = model.energy(params, hx, y, candidates, matrix_cache);
  }

  // Chain rule through the energy network: given dL/df (1 x E*C), adds dL/d(energy
  // parameters) to grads and returns dL/dhx (H x E), summed over each example's candidates.
  Matrix<S> backward(const EnergyModel& model, const S* params, const RowVector<S>& d_f, S* grads) {
    Matrix<S> d_hx;
    if constexpr (kFloat) {
      if (lanes) model.energy_backward_lanes(params, lane_cache, d_f, grads, &d_hx);
    }
    if (!lanes) model.energy_backward(params, matrix_cache, d_f, grads, &d_hx, nullptr);
    return d_hx;
  }
};

// The EBM objective of every example on its C candidate energies (columns e*C .. e*C+C-1
// of f, log q_noise in column e of log_noise; kld-is: log p_label in column e of
// log_label). Writes w_e dL_e/df / B into d_f (1 x E*C, B = 1 / inv_n; w_e =
// example_weights[e], 1 without weights) and returns sum_e w_e L_e.
template <typename S>
double objective_gradient(Objective objective, const RowVector<S>& f, const Matrix<S>& log_noise, S inv_n,
                          const std::vector<double>& example_weights, RowVector<S>& d_f,
                          const Matrix<S>* log_label = nullptr) {
  const int candidates = static_cast<int>(log_noise.rows());
  const int examples = static_cast<int>(log_noise.cols());
  d_f.resize(f.size());
  double loss_sum = 0;
  for (int e = 0; e < examples; ++e) {
    const Eigen::Index base = static_cast<Eigen::Index>(e) * candidates;
    const S* fe = f.data() + base;
    S* dfe = d_f.data() + base;
    const S* ln = log_noise.col(e).data();
    const S loss = objective == Objective::ml_is    ? ml_is_loss(fe, ln, candidates, dfe)
                   : objective == Objective::kld_is ? kld_is_loss(fe, ln, log_label->col(e).data(), candidates, dfe)
                                                    : nce_loss(fe, ln, candidates, dfe);
    if (example_weights.empty()) {
      for (int c = 0; c < candidates; ++c) dfe[c] *= inv_n;
      loss_sum += static_cast<double>(loss);
    } else {
      const S scale = inv_n * S(example_weights[e]);
      for (int c = 0; c < candidates; ++c) dfe[c] *= scale;
      loss_sum += example_weights[e] * static_cast<double>(loss);
    }
  }
  return loss_sum;
}

// kld-is: log p(y_c | y_0) of every candidate under the assumed label distribution
// N(y_0, sigma^2 I) around the example's target y_0 (candidate 0), C x E.
template <typename S>
Matrix<S> label_log_density(const BatchCandidates<S>& cand, double sigma) {
  const Eigen::Index candidates = cand.log_noise.rows(), examples = cand.log_noise.cols();
  const Eigen::Index dy = cand.y.rows();
  const double log_norm = -static_cast<double>(dy) * (std::log(sigma) + 0.5 * std::log(2.0 * 3.141592653589793));
  Matrix<S> out(candidates, examples);
  for (Eigen::Index e = 0; e < examples; ++e) {
    const auto target = cand.y.col(e * candidates);
    for (Eigen::Index c = 0; c < candidates; ++c) {
      const S distance2 = (cand.y.col(e * candidates + c) - target).squaredNorm();
      out(c, e) = S(log_norm - 0.5 * static_cast<double>(distance2) / (sigma * sigma));
    }
  }
  return out;
}

// The targets of the examples (dy x E) as the candidates hold them (candidate 0 of each:
// dequantised for lattice targets, as every method sees them).
template <typename S>
Matrix<S> candidate_targets(const BatchCandidates<S>& cand) {
  const Eigen::Index candidates = cand.log_noise.rows(), examples = cand.log_noise.cols();
  Matrix<S> out(cand.y.rows(), examples);
  for (Eigen::Index e = 0; e < examples; ++e) out.col(e) = cand.y.col(e * candidates);
  return out;
}

// The inputs of a method that does not score noise candidates: the batch's x-features,
// its targets, and where its gradient goes (dL/dhx is accumulated into d_hx, H x E).
template <typename S>
struct DerivativeMethodBatch {
  const Matrix<S>& hx;
  const Matrix<S>& targets;
  const std::vector<int>& indices;
  std::uint64_t stream_base;
  S inv_n;
  S* grads;
  Matrix<S>& d_hx;
};

// ML-MCMC (method reference A.3): M Langevin chains per example, all started at the target
// y_i, L steps y <- y + lambda^2/2 df/dy + lambda z with no gradient through the chain;
// then the contrastive-divergence form of the likelihood gradient,
//   L = 1/M sum_m f(x_i, y_m^(L)) - f(x_i, y_i),  dL/df_m = 1/M, dL/df_0 = -1.
// The chain's df/dy is the matrix path's input gradient (energy_backward with dL/df = 1).
template <typename S>
double ml_mcmc_gradient(const EnergyModel& model, const S* params, const TrainSettings& settings,
                        const DerivativeMethodBatch<S>& b) {
  const int examples = static_cast<int>(b.targets.cols()), dy = static_cast<int>(b.targets.rows());
  const int m_count = settings.samples, columns = m_count + 1;
  const S lambda = S(settings.mcmc_step_size), half_lambda2 = S(0.5 * settings.mcmc_step_size * settings.mcmc_step_size);
  Matrix<S> chains(dy, static_cast<Eigen::Index>(examples) * columns);
  std::vector<Rng> rngs;
  for (int e = 0; e < examples; ++e) {
    chains.middleCols(static_cast<Eigen::Index>(e) * columns, columns).colwise() = b.targets.col(e);
    rngs.emplace_back(settings.seed ^ streams::kMcmc, b.stream_base + static_cast<std::uint64_t>(b.indices[e]));
  }
  const RowVector<S> ones = RowVector<S>::Ones(chains.cols());
  for (int step = 0; step < settings.mcmc_steps; ++step) {
    EnergyCache<S> cache;
    model.energy(params, b.hx, chains, columns, cache);
    Matrix<S> d_y;
    model.energy_backward(params, cache, ones, nullptr, nullptr, &d_y);
    for (int e = 0; e < examples; ++e) {
      for (int m = 1; m <= m_count; ++m) {  // column 0 (the target) stays put
        const Eigen::Index col = static_cast<Eigen::Index>(e) * columns + m;
        for (int d = 0; d < dy; ++d) chains(d, col) += half_lambda2 * d_y(d, col) + lambda * S(rngs[e].normal());
      }
    }
  }
  CandidateEnergies<S> energies(model, params, b.hx, chains, columns);
  RowVector<S> d_f(chains.cols());
  double loss_sum = 0;
  for (int e = 0; e < examples; ++e) {
    const Eigen::Index base = static_cast<Eigen::Index>(e) * columns;
    loss_sum += static_cast<double>(energies.f.segment(base + 1, m_count).mean() - energies.f(base));
    d_f(base) = -b.inv_n;
    d_f.segment(base + 1, m_count).setConstant(b.inv_n / S(m_count));
  }
  b.d_hx += energies.backward(model, params, d_f, b.grads);
  return loss_sum;
}

// Denoising score matching (method reference A.6): M perturbed targets per example,
// y~ = y_i + sigma z, and
//   L = 1/M sum_m sum_d ( df/dy_d(x_i, y~_m) + (y~_md - y_id) / sigma^2 )^2
// (the score of the perturbation kernel is -(y~ - y_i)/sigma^2; no 1/2 and no sigma^2
// weighting, as in the reference). One forward-mode pass per target coordinate d.
template <typename S>
double dsm_gradient(const EnergyModel& model, const S* params, const TrainSettings& settings,
                    const DerivativeMethodBatch<S>& b) {
  const int examples = static_cast<int>(b.targets.cols()), dy = static_cast<int>(b.targets.rows());
  const int m_count = settings.samples;
  const S sigma = S(settings.dsm_sigma), inv_sigma2 = S(1.0 / (settings.dsm_sigma * settings.dsm_sigma));
  Matrix<S> noisy(dy, static_cast<Eigen::Index>(examples) * m_count), target_score(dy, noisy.cols());
  for (int e = 0; e < examples; ++e) {
    Rng rng(settings.seed ^ streams::kScoreNoise, b.stream_base + static_cast<std::uint64_t>(b.indices[e]));
    for (int m = 0; m < m_count; ++m) {
      const Eigen::Index col = static_cast<Eigen::Index>(e) * m_count + m;
      for (int d = 0; d < dy; ++d) {
        const S offset = sigma * S(rng.normal());
        noisy(d, col) = b.targets(d, e) + offset;
        target_score(d, col) = offset * inv_sigma2;
      }
    }
  }
  double loss_sum = 0;
  const RowVector<S> zeros = RowVector<S>::Zero(noisy.cols());
  for (int d = 0; d < dy; ++d) {
    YDerivativeCache<S> cache;
    const EnergyYDerivatives<S> g = model.energy_y_derivatives(params, b.hx, noisy, m_count, d, &cache);
    const RowVector<S> residual = g.df + target_score.row(d);
    loss_sum += static_cast<double>(residual.squaredNorm()) / m_count;
    const RowVector<S> d_df = (S(2) * b.inv_n / S(m_count)) * residual;
    model.energy_y_derivatives_backward(params, cache, RowVector<S>(), d_df, zeros, b.grads, &b.d_hx);
  }
  return loss_sum;
}

// Score matching (method reference A.7), at the data:
//   L = sum_d [ d^2 f/dy_d^2 + 1/2 (df/dy_d)^2 ](x_i, y_i),
//   dL/d(d^2 f/dy_d^2) = 1, dL/d(df/dy_d) = df/dy_d.
template <typename S>
double sm_gradient(const EnergyModel& model, const S* params, const DerivativeMethodBatch<S>& b) {
  const int dy = static_cast<int>(b.targets.rows());
  double loss_sum = 0;
  const RowVector<S> d_d2f = RowVector<S>::Constant(b.targets.cols(), b.inv_n);
  for (int d = 0; d < dy; ++d) {
    YDerivativeCache<S> cache;
    const EnergyYDerivatives<S> g = model.energy_y_derivatives(params, b.hx, b.targets, 1, d, &cache);
    loss_sum += static_cast<double>(g.d2f.sum() + S(0.5) * g.df.squaredNorm());
    const RowVector<S> d_df = b.inv_n * g.df;
    model.energy_y_derivatives_backward(params, cache, RowVector<S>(), d_df, d_d2f, b.grads, &b.d_hx);
  }
  return loss_sum;
}

// dJ/d(proposal outputs) for every example, column e of each matrix: means and
// log-variances (K*dy x E), logits (K x E).
template <typename S>
struct ProposalOutputGradient {
  Matrix<S> d_means, d_log_variances, d_logits;
};

// J_KL for the proposal: the importance weights w_m = softmax_m(f_m - log q_noise_m) of
// the draws come from the EBM and are held fixed, and so are the draws y_m; the gradient
// flows into phi only, with coefficient -w_m / B on d log q_phi(y_m|x_i):
//   J = -1/B sum_i sum_m w_im log q_phi(y_im|x_i),
// each example's term multiplied by its weight (example_weights[e]) when there are weights.
// The responsibilities of the draws under q_phi are those of the learned noise (the same
// q) or, for gmm noise, computed here.
template <typename S>
ProposalOutputGradient<S> proposal_kl_gradient(const MdnOutput<S>& q, const BatchCandidates<S>& cand,
                                               const RowVector<S>& f, S inv_n,
                                               const std::vector<double>& example_weights) {
  const int candidates = static_cast<int>(cand.log_noise.rows());
  const int examples = static_cast<int>(cand.log_noise.cols());
  const int m_count = candidates - 1;
  ProposalOutputGradient<S> g{Matrix<S>::Zero(q.means.rows(), examples),
                              Matrix<S>::Zero(q.log_variances.rows(), examples),
                              Matrix<S>::Zero(q.log_weights.rows(), examples)};
  RowVector<S> weights(m_count);
  Matrix<S> draw_responsibilities;
  RowVector<S> log_q_draws;  // Eigen-aligned (see importance_sample on alignment)
  for (int e = 0; e < examples; ++e) {
    const Eigen::Index base = static_cast<Eigen::Index>(e) * candidates;
    importance_weights(f.data() + base + 1, cand.log_noise.col(e).data() + 1, m_count, weights.data());
    const S scale = example_weights.empty() ? inv_n : inv_n * S(example_weights[e]);
    const RowVector<S> coefficients = -scale * weights;
    const auto draws = cand.y.middleCols(base + 1, m_count);
    if (!cand.responsibilities.empty()) {
      mdn_accumulate_gradient_batch(q, e, draws, Matrix<S>(cand.responsibilities[e].rightCols(m_count)),
                                    coefficients, g.d_means, g.d_log_variances, g.d_logits);
    } else {
      log_q_draws.resize(m_count);
      mdn_log_density_batch(q, e, draws, log_q_draws.data(), &draw_responsibilities);
      mdn_accumulate_gradient_batch(q, e, draws, draw_responsibilities, coefficients, g.d_means, g.d_log_variances,
                                    g.d_logits);
    }
  }
  return g;
}

// Relative energy (f = log q + g): the proposal is the model's base, fitted to the data by
// maximum likelihood, J = -1/B sum_i log q_phi(y_i|x_i) (each term times the example's
// weight when there are weights), instead of J_KL, which would only pull q towards
// q e^g / Z and leave it where it started while g is small.
template <typename S>
ProposalOutputGradient<S> proposal_likelihood_gradient(const MdnOutput<S>& q, const Matrix<S>& yb, S inv_n,
                                                       const std::vector<double>& example_weights) {
  const int examples = static_cast<int>(yb.cols());
  ProposalOutputGradient<S> g{Matrix<S>::Zero(q.means.rows(), examples),
                              Matrix<S>::Zero(q.log_variances.rows(), examples),
                              Matrix<S>::Zero(q.log_weights.rows(), examples)};
  Matrix<S> responsibilities;
  RowVector<S> log_q(1);
  for (int e = 0; e < examples; ++e) {
    const S scale = example_weights.empty() ? inv_n : inv_n * S(example_weights[e]);
    const auto target = yb.middleCols(e, 1);
    mdn_log_density_batch(q, e, target, log_q.data(), &responsibilities);
    const RowVector<S> coefficient = RowVector<S>::Constant(1, -scale);
    mdn_accumulate_gradient_batch(q, e, target, responsibilities, coefficient, g.d_means, g.d_log_variances,
                                  g.d_logits);
  }
  return g;
}

// batch_gradient for ml-mcmc, dsm and sm: the EBM's gradient from the method's own
// samples or derivatives, and J_KL for the proposal on the candidates' noise draws (their
// energies by a forward pass only: the importance weights are held fixed).
template <typename S>
double derivative_method_gradient(const EnergyModel& model, const S* params, const XBranchCache<S>& x_cache,
                                  const MdnOutput<S>& q, const MdnCache<S>& q_cache, const Matrix<S>& yb,
                                  const BatchCandidates<S>& cand, const std::vector<int>& indices,
                                  const TrainSettings& settings, std::uint64_t stream_base, double normaliser,
                                  S* grads, double* proposal_nll) {
  const Matrix<S>& hx = x_cache.mlp.output;
  const S inv_n = S(1.0 / normaliser);
  const Matrix<S> targets = candidate_targets(cand);
  Matrix<S> d_hx = Matrix<S>::Zero(hx.rows(), hx.cols());
  const DerivativeMethodBatch<S> b{hx, targets, indices, stream_base, inv_n, grads, d_hx};
  double loss_sum = 0;
  if (settings.objective == Objective::ml_mcmc) loss_sum = ml_mcmc_gradient(model, params, settings, b);
  if (settings.objective == Objective::dsm) loss_sum = dsm_gradient(model, params, settings, b);
  if (settings.objective == Objective::sm) loss_sum = sm_gradient(model, params, b);
  ProposalOutputGradient<S> d_q;
  if (model.architecture().energy_form == EnergyForm::relative) {
    d_q = proposal_likelihood_gradient(q, yb, inv_n, std::vector<double>{});
  } else {
    const RowVector<S> f = model.energy(params, hx, cand.y, static_cast<int>(cand.log_noise.rows()));
    d_q = proposal_kl_gradient(q, cand, f, inv_n, std::vector<double>{});
  }
  double q_nll_sum = 0;
  for (Eigen::Index e = 0; e < yb.cols(); ++e) {
    q_nll_sum -= static_cast<double>(mdn_log_density(q, static_cast<int>(e), yb.col(e).data()));
  }
  model.x_features_backward(params, x_cache, d_hx, grads);
  model.proposal_backward(params, q_cache, q, d_q.d_means, d_q.d_log_variances, d_q.d_logits, grads);
  if (proposal_nll != nullptr) *proposal_nll += q_nll_sum;
  return loss_sum;
}

}  // namespace

template <typename S>
double batch_gradient(const EnergyModel& model, const S* params, const Matrix<S>& x,
                      const Matrix<S>& y, const std::vector<int>& indices,
                      const TrainSettings& settings, std::uint64_t stream_base, double normaliser,
                      S* grads, double* proposal_nll, const std::vector<double>* weights) {
  const int examples = static_cast<int>(indices.size());
  std::vector<double> example_weights;  // of the batch's examples; empty = unweighted
  if (weights != nullptr && !weights->empty()) {
    for (int e = 0; e < examples; ++e) example_weights.push_back((*weights)[static_cast<std::size_t>(indices[e])]);
  }
  const int candidates = settings.samples + 1;
  Matrix<S> xb(x.rows(), examples), yb(y.rows(), examples);
  for (int e = 0; e < examples; ++e) {
    xb.col(e) = x.col(indices[e]);
    yb.col(e) = y.col(indices[e]);
  }
  XBranchCache<S> x_cache;
  model.x_features(params, xb, x_cache);
  const Matrix<S>& hx = x_cache.mlp.output;
  MdnOutput<S> q;
  MdnCache<S> q_cache;
  model.proposal(params, hx, q, &q_cache);

  const BatchCandidates<S> cand = draw_candidates(q, yb, indices, settings, stream_base);
  if (!uses_noise_candidates(settings.objective)) {
    return derivative_method_gradient(model, params, x_cache, q, q_cache, yb, cand, indices, settings, stream_base,
                                      normaliser, grads, proposal_nll);
  }
  CandidateEnergies<S> energies(model, params, hx, cand.y, candidates);
  const S inv_n = S(1.0 / normaliser);
  RowVector<S> d_f;
  const Matrix<S> log_label =
      settings.objective == Objective::kld_is ? label_log_density(cand, settings.label_sigma) : Matrix<S>();
  const double loss_sum =
      objective_gradient(settings.objective, energies.f, cand.log_noise, inv_n, example_weights, d_f, &log_label);
  const ProposalOutputGradient<S> d_q = model.architecture().energy_form == EnergyForm::relative
                                            ? proposal_likelihood_gradient(q, yb, inv_n, example_weights)
                                            : proposal_kl_gradient(q, cand, energies.f, inv_n, example_weights);
  double q_nll_sum = 0;
  for (int e = 0; e < examples; ++e) {
    const double q_nll = -static_cast<double>(mdn_log_density(q, e, yb.col(e).data()));
    q_nll_sum += example_weights.empty() ? q_nll : example_weights[e] * q_nll;
  }

  // A non-finite loss is not thrown here (a worker thread does not know the epoch and
  // batch): it propagates into the returned loss and the gradients, and the training loop
  // stops with a message naming both.
  // Backward: the EBM loss reaches the x-branch through the energies' dL/dhx; the proposal
  // treats hx as a constant, so J_KL reaches only the three heads.
  Matrix<S> d_hx = energies.backward(model, params, d_f, grads);
  model.x_features_backward(params, x_cache, d_hx, grads);
  model.proposal_backward(params, q_cache, q, d_q.d_means, d_q.d_log_variances, d_q.d_logits, grads);
  if (proposal_nll != nullptr) *proposal_nll += q_nll_sum;
  return loss_sum;
}

template double batch_gradient<float>(const EnergyModel&, const float*, const Matrix<float>&,
                                      const Matrix<float>&, const std::vector<int>&,
                                      const TrainSettings&, std::uint64_t, double, float*, double*,
                                      const std::vector<double>*);
template double batch_gradient<double>(const EnergyModel&, const double*, const Matrix<double>&,
                                       const Matrix<double>&, const std::vector<int>&,
                                       const TrainSettings&, std::uint64_t, double, double*,
                                       double*, const std::vector<double>*);

namespace {

// log p_T(y|x) = f(y) / T - LSE_c(f_c / T + log_base_c) over one row's candidates (energies
// f_c and log base weights, C x 1; log Z = LSE_c(f_c + log_base_c) at T = 1), with
// inv_t = 1 / T; `terms` is scratch space. The one tempered density of the epoch score
// and the calibration's temperature fits. Eigen's vectorised exp: with std::exp the 17
// temperatures of the epoch score cost as much as the rest of the validation, and the
// golden-section fits evaluate it about 40 times per row and member.
double tempered_log_density(const Eigen::Ref<const Eigen::VectorXd>& energy,
                            const Eigen::Ref<const Eigen::VectorXd>& log_base, double observed_energy, double inv_t,
                            Eigen::ArrayXd& terms) {
  terms = energy.array() * inv_t + log_base.array();
  const double top = terms.maxCoeff();
  const double lse = std::isfinite(top) ? top + std::log((terms - top).exp().sum()) : top;
  return observed_energy * inv_t - lse;
}

}  // namespace

NllEstimate evaluate_nll(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                         const Matrix<float>& y, int samples, std::uint64_t seed, int threads,
                         const TargetSupport& support, const std::vector<double>* weights, bool search_temperature) {
  const Eigen::Index n = x.cols();
  const bool weighted = weights != nullptr && !weights->empty();
  const Eigen::Index rows_per_chunk = std::max<Eigen::Index>(1, kTaskColumns / samples);
  const std::size_t chunks = static_cast<std::size_t>((n + rows_per_chunk - 1) / rows_per_chunk);
  const int temperatures = search_temperature ? kEpochScoreTemperatures : 0;
  // Per chunk: the (weighted) sums of -log p, -log q and -log p_T for each temperature,
  // added up in chunk order afterwards, so that the result does not depend on the threads.
  std::vector<double> nll_sums(chunks, 0.0), q_sums(chunks, 0.0);
  std::vector<std::vector<double>> tempered_sums(chunks, std::vector<double>(static_cast<std::size_t>(temperatures)));
  std::vector<double> inverse_temperatures(static_cast<std::size_t>(temperatures));  // 1 / T_j = 2^(-j/8)
  for (int j = 0; j < temperatures; ++j) inverse_temperatures[j] = std::exp2(-kEpochScoreTemperatureStep * j);
  ThreadPool pool(threads);
  pool.run(chunks, [&](std::size_t c) {
    const Eigen::Index begin = static_cast<Eigen::Index>(c) * rows_per_chunk;
    const Eigen::Index count = std::min(rows_per_chunk, n - begin);
    const Matrix<float> xs = x.middleCols(begin, count);
    const Matrix<float> ys = y.middleCols(begin, count);
    const ImportanceSample is = importance_sample(model, params, xs, samples, seed, begin, nullptr, support);
    const RowVector<float> f = observed_energies(model, params, is, ys);
    Eigen::ArrayXd terms;
    for (Eigen::Index e = 0; e < count; ++e) {
      const double w = weighted ? (*weights)[static_cast<std::size_t>(begin + e)] : 1.0;
      nll_sums[c] -= w * reported_log_density(is, static_cast<int>(e), f(e), ys.col(e).data());
      q_sums[c] -= w * mdn_log_density(is.proposal, static_cast<int>(e), ys.col(e).data());
      for (std::size_t j = 0; j < inverse_temperatures.size(); ++j) {
        tempered_sums[c][j] -=
            w * tempered_log_density(is.energy.col(e), is.log_base.col(e), f(e), inverse_temperatures[j], terms);
      }
    }
  });
  const double total = weighted ? std::accumulate(weights->begin(), weights->end(), 0.0) : static_cast<double>(n);
  NllEstimate estimate;
  estimate.nll = std::accumulate(nll_sums.begin(), nll_sums.end(), 0.0) / total;
  estimate.proposal_nll = std::accumulate(q_sums.begin(), q_sums.end(), 0.0) / total;
  for (int j = 0; j < temperatures; ++j) {
    double sum = 0;
    for (const std::vector<double>& chunk : tempered_sums) sum += chunk[static_cast<std::size_t>(j)];
    // The first of equal values: the lowest T. A NaN at T = 1 stays (validate() stops).
    if (j == 0 || sum / total < estimate.tempered_nll) {
      estimate.tempered_nll = sum / total;
      estimate.temperature = std::exp2(kEpochScoreTemperatureStep * j);
    }
  }
  return estimate;
}

double fit_proposal_scale(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                          const Matrix<float>& y, double* nll_before, double* nll_after,
                          const std::vector<double>* weights) {
  const Eigen::Index n = x.cols();
  const bool weighted = weights != nullptr && !weights->empty();
  const double total = weighted ? std::accumulate(weights->begin(), weights->end(), 0.0) : static_cast<double>(n);
  MdnOutput<float> q;
  model.proposal(params.data(), model.x_features(params.data(), x), q, nullptr);
  const Matrix<float> clamped = q.log_variances;
  // Shifting the clamped log-variances equals shifting the head's bias except for outputs
  // at the clamp bounds (variances of e^-18 or e^10), which no fitted proposal has.
  auto nll = [&](double shift) {
    q.log_variances = (clamped.array() + static_cast<float>(shift))
                          .max(static_cast<float>(kMinLogVariance))
                          .min(static_cast<float>(kMaxLogVariance))
                          .matrix();
    double sum = 0;
    for (Eigen::Index e = 0; e < n; ++e) {
      const double log_q = mdn_log_density(q, static_cast<int>(e), y.col(e).data());
      sum -= weighted ? (*weights)[static_cast<std::size_t>(e)] * log_q : log_q;
    }
    return sum / total;
  };
  const double at_one = nll(0.0);
  double best_scale = 1.0, best = at_one;
  for (int j = 1; j <= 16; ++j) {
    const double scale = std::pow(2.0, j / 4.0);
    const double value = nll(2.0 * std::log(scale));
    if (std::isfinite(value) && value < best) {
      best = value;
      best_scale = scale;
    }
  }
  if (nll_before != nullptr) *nll_before = at_one;
  if (nll_after != nullptr) *nll_after = best;
  return best_scale;
}

TemperingData tempering_data(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                             const Matrix<float>& y, int samples, std::uint64_t seed, int threads,
                             const TargetSupport& support) {
  const Eigen::Index n = x.cols();
  const int candidates = candidate_count(samples, support, model.architecture().y_dim);
  TemperingData t{Eigen::MatrixXd(candidates, n), Eigen::MatrixXd(candidates, n), Eigen::VectorXd(n)};
  const Eigen::Index rows_per_chunk = std::max<Eigen::Index>(1, kTaskColumns / candidates);
  const std::size_t chunks = static_cast<std::size_t>((n + rows_per_chunk - 1) / rows_per_chunk);
  ThreadPool pool(threads);
  pool.run(chunks, [&](std::size_t c) {
    const Eigen::Index begin = static_cast<Eigen::Index>(c) * rows_per_chunk;
    const Eigen::Index count = std::min(rows_per_chunk, n - begin);
    const ImportanceSample is =
        importance_sample(model, params, x.middleCols(begin, count), samples, seed, begin, nullptr, support);
    const RowVector<float> f0 = model.energy(params.data(), is.hx, Matrix<float>(y.middleCols(begin, count)), 1);
    t.draw_energy.middleCols(begin, count) = is.energy;
    t.draw_log_base.middleCols(begin, count) = is.log_base;
    for (Eigen::Index e = 0; e < count; ++e) t.observed_energy(begin + e) = f0(e);
  });
  return t;
}

namespace {

// Row i's tempered log-density (tempered_log_density); `terms` is scratch space.
double tempered_row_log_density(const TemperingData& t, Eigen::Index i, double inv_t, Eigen::ArrayXd& terms) {
  return tempered_log_density(t.draw_energy.col(i), t.draw_log_base.col(i), t.observed_energy(i), inv_t, terms);
}

}  // namespace

std::vector<double> row_log_densities(const TemperingData& t, double temperature) {
  std::vector<double> log_density(static_cast<std::size_t>(t.observed_energy.size()));
  Eigen::ArrayXd terms;
  for (Eigen::Index i = 0; i < t.observed_energy.size(); ++i) {
    log_density[static_cast<std::size_t>(i)] = tempered_row_log_density(t, i, 1.0 / temperature, terms);
  }
  return log_density;
}

double tempered_mixture_nll(const std::vector<TemperingData>& members, double log_t,
                            const std::vector<double>* weights) {
  const Eigen::Index n = members.front().observed_energy.size();
  const bool weighted = weights != nullptr && !weights->empty();
  const double weight_sum = weighted ? std::accumulate(weights->begin(), weights->end(), 0.0) : static_cast<double>(n);
  const double inv_t = std::exp(-log_t);
  const double log_members = std::log(static_cast<double>(members.size()));
  Eigen::ArrayXd terms;
  std::vector<double> member_log_density(members.size());
  double total = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (std::size_t m = 0; m < members.size(); ++m) {
      member_log_density[m] = tempered_row_log_density(members[m], i, inv_t, terms);
    }
    // One member: LSE of one value is that value and log 1 = 0, so the term is exactly
    // log Z - f_i0 / T, as a single model's calibration always computed it.
    const double term =
        log_members - log_sum_exp(member_log_density.data(), static_cast<int>(member_log_density.size()));
    total += weighted ? (*weights)[static_cast<std::size_t>(i)] * term : term;
  }
  return total / weight_sum;
}

namespace {

// Golden-section minimum of a unimodal f over [lo, hi] (40 steps: the bracket shrinks by
// 0.618^40 ~ 4e-9 of its width); the midpoint of the final bracket.
template <typename F>
double golden_section(const F& f, double lo, double hi) {
  const double ratio = 0.6180339887498949;
  double a = hi - ratio * (hi - lo), b = lo + ratio * (hi - lo);
  double fa = f(a), fb = f(b);
  for (int iteration = 0; iteration < 40; ++iteration) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = f(b);
    }
  }
  return 0.5 * (lo + hi);
}

}  // namespace

double fit_mixture_temperature(const std::vector<TemperingData>& members, double log_lo, double log_hi,
                               const std::vector<double>* weights, double* nll_before, double* nll_after) {
  const auto nll = [&](double log_t) { return tempered_mixture_nll(members, log_t, weights); };
  const double best = golden_section(nll, log_lo, log_hi);
  const double at_one = nll(0.0), at_best = nll(best);
  if (nll_before != nullptr) *nll_before = at_one;
  if (nll_after != nullptr) *nll_after = std::min(at_one, at_best);
  if (!std::isfinite(at_best) || at_best >= at_one) return 1.0;
  return std::exp(best);
}

double fit_temperature(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                       const Matrix<float>& y, int samples, std::uint64_t seed, int threads, double* nll_before,
                       double* nll_after, const TargetSupport& support, const std::vector<double>* weights,
                       std::vector<double>* row_log_density) {
  const std::vector<TemperingData> one{tempering_data(model, params, x, y, samples, seed, threads, support)};
  const double temperature = fit_mixture_temperature(one, 0.0, std::log(4.0), weights, nll_before, nll_after);
  if (row_log_density != nullptr) *row_log_density = row_log_densities(one.front(), temperature);
  return temperature;
}

namespace {

// Per row, log A_i and log B_i of two_group_mixture_nll: the log of each group's average
// density at log_t.
struct GroupLogDensities {
  std::vector<double> kept, other;
};

GroupLogDensities group_log_densities(const std::vector<TemperingData>& members, const std::vector<bool>& other,
                                      double log_t) {
  const Eigen::Index n = members.front().observed_energy.size();
  const double inv_t = std::exp(-log_t);
  GroupLogDensities g{std::vector<double>(static_cast<std::size_t>(n)),
                      std::vector<double>(static_cast<std::size_t>(n))};
  Eigen::ArrayXd terms;
  std::vector<double> kept, others;
  for (Eigen::Index i = 0; i < n; ++i) {
    kept.clear();
    others.clear();
    for (std::size_t m = 0; m < members.size(); ++m) {
      (other[m] ? others : kept).push_back(tempered_row_log_density(members[m], i, inv_t, terms));
    }
    g.kept[i] = log_sum_exp(kept.data(), static_cast<int>(kept.size())) - std::log(static_cast<double>(kept.size()));
    g.other[i] =
        log_sum_exp(others.data(), static_cast<int>(others.size())) - std::log(static_cast<double>(others.size()));
  }
  return g;
}

// mean_i -log[(1 - w) exp a_i + w exp b_i] (weighted), by log-sum-exp; w = 0 or 1 drops a
// group (log 0 = -inf inside the LSE).
double group_mixture_nll(const GroupLogDensities& g, double w, const std::vector<double>* weights) {
  const bool weighted = weights != nullptr && !weights->empty();
  const double log_kept = std::log1p(-w), log_other = std::log(w);
  double total = 0, weight_sum = 0;
  for (std::size_t i = 0; i < g.kept.size(); ++i) {
    const double terms[2] = {log_kept + g.kept[i], log_other + g.other[i]};
    const double r = weighted ? (*weights)[i] : 1.0;
    total -= r * log_sum_exp(terms, 2);
    weight_sum += r;
  }
  return total / weight_sum;
}

double best_group_weight(const GroupLogDensities& g, const std::vector<double>* weights) {
  const double w = golden_section([&](double v) { return group_mixture_nll(g, v, weights); }, 0.0, 1.0);
  // The golden section never evaluates the ends; a group that only hurts gets weight 0.
  double best = w, best_nll = group_mixture_nll(g, w, weights);
  for (double end : {0.0, 1.0}) {
    const double nll = group_mixture_nll(g, end, weights);
    if (nll < best_nll) {
      best = end;
      best_nll = nll;
    }
  }
  return best;
}

}  // namespace

double two_group_mixture_nll(const std::vector<TemperingData>& members, const std::vector<bool>& other, double log_t,
                             double w, const std::vector<double>* weights) {
  return group_mixture_nll(group_log_densities(members, other, log_t), w, weights);
}

double fit_group_weight(const std::vector<TemperingData>& members, const std::vector<bool>& other, double log_t,
                        const std::vector<double>* weights) {
  return best_group_weight(group_log_densities(members, other, log_t), weights);
}

EnsembleCalibration fit_two_group_calibration(const std::vector<TemperingData>& members,
                                              const std::vector<bool>& other, double log_lo, double log_hi,
                                              const std::vector<double>* weights) {
  EnsembleCalibration cal;
  const std::size_t others = static_cast<std::size_t>(std::count(other.begin(), other.end(), true));
  if (others == 0 || others == members.size()) {
    cal.temperature = fit_mixture_temperature(members, log_lo, log_hi, weights, &cal.nll_before, &cal.nll_after);
    return cal;
  }
  // The profile NLL over log T: at each T, the best w (a one-dimensional convex problem
  // on the rows' cached group densities).
  const auto profile = [&](double log_t) {
    const GroupLogDensities g = group_log_densities(members, other, log_t);
    return group_mixture_nll(g, best_group_weight(g, weights), weights);
  };
  const double log_t = golden_section(profile, log_lo, log_hi);
  const GroupLogDensities g = group_log_densities(members, other, log_t);
  const double w = best_group_weight(g, weights);
  const double at_best = group_mixture_nll(g, w, weights);
  const double equal = static_cast<double>(others) / static_cast<double>(members.size());
  cal.nll_before = group_mixture_nll(group_log_densities(members, other, 0.0), equal, weights);
  if (!std::isfinite(at_best) || at_best >= cal.nll_before) {
    cal.other_weight = equal;
    cal.nll_after = cal.nll_before;
    return cal;
  }
  cal.temperature = std::exp(log_t);
  cal.other_weight = w;
  cal.nll_after = at_best;
  return cal;
}

EnsembleCalibration fit_ensemble_calibration(const std::vector<Member>& members, const std::vector<bool>& other,
                                             const Matrix<float>& x, const Matrix<float>& y, int samples,
                                             const std::vector<std::uint64_t>& seeds, int threads,
                                             const TargetSupport& support, const std::vector<double>* weights) {
  const Eigen::Index rows = std::min(x.cols(), kEnsembleCalibrationRows);
  const Matrix<float> x_rows = x.leftCols(rows), y_rows = y.leftCols(rows);
  std::vector<double> row_weights;
  if (weights != nullptr && !weights->empty()) row_weights.assign(weights->begin(), weights->begin() + rows);
  std::vector<TemperingData> data;
  for (std::size_t m = 0; m < members.size(); ++m) {
    data.push_back(tempering_data(members[m].model, members[m].params, x_rows, y_rows, samples, seeds[m], threads,
                                  support));
  }
  const double log_lo = std::log(kEnsembleTemperatureMin), log_hi = std::log(4.0);
  return fit_two_group_calibration(data, other, log_lo, log_hi, &row_weights);
}

void update_parameter_average(ParamVector& average, const ParamVector& params, double decay, long step) {
  const double t = static_cast<double>(step);
  const auto d = static_cast<float>(std::min(decay, (1.0 + t) / (10.0 + t)));
  Eigen::Map<Eigen::VectorXf> a(average.data(), static_cast<Eigen::Index>(average.size()));
  // a + (1 - d)(p - a) rather than d a + (1 - d) p: the same in exact arithmetic, and in
  // float an average of equal values stays equal (a warm start that does not move keeps
  // its parameters to the bit).
  a += (1.0f - d) * (Eigen::Map<const Eigen::VectorXf>(params.data(), static_cast<Eigen::Index>(params.size())) - a);
}

int resolve_epochs(const TrainSettings& settings, std::size_t train_rows) {
  if (settings.epochs > 0) return settings.epochs;
  const std::size_t batch = static_cast<std::size_t>(std::max(1, settings.batch_size));
  const std::size_t batches = std::max<std::size_t>(1, (train_rows + batch - 1) / batch);
  const std::size_t epochs = (static_cast<std::size_t>(std::max(1, settings.auto_steps)) + batches - 1) / batches;
  return static_cast<int>(std::clamp<std::size_t>(epochs, 20, 500));
}

namespace {

void check_train_settings(const EnergyModel& model, const TrainSettings& settings, int rows) {
  if (rows == 0) throw DataError("no training rows");
  if (settings.objective == Objective::sm && model.architecture().activation == Activation::relu) {
    // A ReLU network is piecewise linear in y: d2f/dy2 = 0 almost everywhere, and the loss
    // 1/2 (df/dy)^2 left would only flatten f.
    throw UsageError("--method sm needs a smooth activation (--activation tanh or silu): with relu, d2f/dy2 is 0 "
                     "almost everywhere and score matching cannot fit the density");
  }
  if (settings.batch_size < 1) throw UsageError("--batch-size must be at least 1");
  if (settings.samples < 1) throw UsageError("--samples must be at least 1");
  if (settings.epochs < 0) throw UsageError("--epochs must be >= 0");
}

// The state training starts from: a copy of `resume` (its Adam moments and step count
// loaded into adam), or freshly initialised parameters (stream 0 of kInit).
TrainingState initial_state(const EnergyModel& model, const TrainSettings& settings, const TrainingState* resume,
                            const ParamVector* init_params, Adam& adam) {
  const std::size_t size = model.parameter_count();
  TrainingState state;
  if (resume != nullptr) {
    if (resume->params.size() != size || resume->adam_m.size() != size || resume->adam_v.size() != size ||
        resume->best_params.size() != size ||
        (!resume->average_params.empty() && resume->average_params.size() != size)) {
      throw DataError("the resume state does not match the model's parameter count");
    }
    state = *resume;
    adam.first_moment() = state.adam_m;
    adam.second_moment() = state.adam_v;
    adam.set_steps(state.adam_steps);
  } else if (init_params != nullptr && !init_params->empty()) {
    if (init_params->size() != size) throw DataError("the initial parameters do not match the model's parameter count");
    state.params = *init_params;  // a warm start: the parameters only, a fresh optimiser
    state.best_params = state.params;
  } else {
    state.params.resize(size);
    Rng init_rng(settings.seed ^ streams::kInit, 0);
    model.initialize(state.params.data(), init_rng);
    state.best_params = state.params;
  }
  return state;
}

// Weights, when given, are one per example, finite and >= 0, and not all zero (a weighted
// mean needs a positive total).
void check_weights(const TrainInputs& in, int rows, int valid_rows) {
  const auto check = [](const std::vector<double>& w, int count, const char* which) {
    if (w.empty()) return;
    if (static_cast<int>(w.size()) != count) {
      throw UsageError(std::string("the ") + which + " weights do not match the number of " + which + " rows");
    }
    double sum = 0;
    for (double v : w) {
      if (!(std::isfinite(v) && v >= 0)) throw UsageError(std::string("the ") + which + " weights must be finite and >= 0");
      sum += v;
    }
    if (!(sum > 0) || !std::isfinite(sum)) {
      throw DataError(std::string("the weights of the ") + which + " rows sum to " + format_number(sum) +
                      ": a weighted mean needs a positive, finite total");
    }
  };
  check(in.weights, rows, "training");
  check(in.valid_weights, valid_rows, "validation");
}

using InterruptPoll = std::function<bool()>;

// One training run's pass over the data, shared by its epochs: the thread pool, the
// shuffled order and the gradient buffers of the work units (chunks) of a batch.
class EpochRunner {
 public:
  // `weights`: one per example, or empty (unweighted). Each batch's gradient is divided by
  // B * mean(w): the mean over batches is that of the weighted mean loss over the data.
  EpochRunner(const EnergyModel& model, const Matrix<float>& x, const Matrix<float>& y,
              const TrainSettings& settings, int epochs, const std::vector<double>& weights)
      : model_(model),
        x_(x),
        y_(y),
        settings_(settings),
        weights_(weights),
        mean_weight_(weights.empty() ? 1.0
                                     : std::accumulate(weights.begin(), weights.end(), 0.0) /
                                           static_cast<double>(weights.size())),
        pool_(settings.threads),
        rows_(static_cast<int>(x.cols())),
        chunk_size_(examples_per_chunk(settings.samples + 1, settings.batch_size)),
        batches_((rows_ + settings.batch_size - 1) / settings.batch_size),
        total_steps_(static_cast<long>(epochs) * batches_),
        order_(rows_) {
    const int max_chunks = (settings.batch_size + chunk_size_ - 1) / chunk_size_;
    const std::size_t size = model.parameter_count();
    chunk_grads_.assign(max_chunks, ParamVector(size));
    chunk_loss_.resize(max_chunks);
    chunk_q_.resize(max_chunks);
    grads_.resize(size);
  }

  // One optimiser step per batch of a freshly shuffled order. Returns the sums over the
  // examples of the EBM loss and of -log q_phi(y|x); stops after the batch during which
  // `interrupted` became true (the caller abandons that partial epoch).
  std::pair<double, double> run(int epoch, ParamVector& params, Adam& adam, const BatchCallback& on_batch,
                                const InterruptPoll& interrupted, ParamVector& average) {
    shuffle(epoch);
    // Noise of example i in this epoch: stream epoch * n + i.
    const std::uint64_t stream_base = static_cast<std::uint64_t>(epoch) * static_cast<std::uint64_t>(rows_);
    double epoch_loss = 0, epoch_q = 0;
    for (int b = 0; b < batches_; ++b) {
      const int begin = b * settings_.batch_size;
      const int count = std::min(settings_.batch_size, rows_ - begin);
      const double batch_loss = batch_gradient_sum(params, begin, count, stream_base, epoch_q);
      if (!std::isfinite(batch_loss) || !Eigen::Map<const Eigen::VectorXf>(grads_.data(), grads_.size()).allFinite()) {
        throw NumericalError("training diverged: non-finite loss or gradient at epoch " + std::to_string(epoch) +
                             ", batch " + std::to_string(b + 1) +
                             " (try a lower --lr, or check the data for extreme values)");
      }
      epoch_loss += batch_loss;
      adam.step(params.data(), grads_.data(), learning_rate(adam.steps()));
      if (settings_.average_decay > 0) update_parameter_average(average, params, settings_.average_decay, adam.steps());
      if (on_batch) on_batch(b + 1, batches_);
      if (interrupted()) break;
    }
    return {epoch_loss, epoch_q};
  }

 private:
  // Fisher-Yates shuffle of 0..n-1 from stream `epoch` of kShuffle.
  void shuffle(int epoch) {
    std::iota(order_.begin(), order_.end(), 0);
    Rng shuffle_rng(settings_.seed ^ streams::kShuffle, static_cast<std::uint64_t>(epoch));
    for (int i = rows_ - 1; i > 0; --i) {
      std::swap(order_[i], order_[shuffle_rng.below(static_cast<std::uint64_t>(i) + 1)]);
    }
  }

  // Gradient of the batch of `count` examples from position `begin` of the order into
  // grads_ (each example's gradient divided by count), computed in chunks on the pool.
  // Returns the batch's loss sum; adds its proposal NLL sum to epoch_q chunk by chunk.
  double batch_gradient_sum(const ParamVector& params, int begin, int count, std::uint64_t stream_base,
                            double& epoch_q) {
    const int chunks = (count + chunk_size_ - 1) / chunk_size_;
    pool_.run(static_cast<std::size_t>(chunks), [&](std::size_t c) {
      const int cb = begin + static_cast<int>(c) * chunk_size_;
      const int cc = std::min(chunk_size_, begin + count - cb);
      std::vector<int> idx(order_.begin() + cb, order_.begin() + cb + cc);
      std::fill(chunk_grads_[c].begin(), chunk_grads_[c].end(), 0.0f);
      chunk_q_[c] = 0;
      const double normaliser = weights_.empty() ? static_cast<double>(count) : count * mean_weight_;
      chunk_loss_[c] = batch_gradient(model_, params.data(), x_, y_, idx, settings_, stream_base, normaliser,
                                      chunk_grads_[c].data(), &chunk_q_[c], weights_.empty() ? nullptr : &weights_);
    });
    // Sum the chunks in a fixed order: identical results for any thread count.
    std::copy(chunk_grads_[0].begin(), chunk_grads_[0].end(), grads_.begin());
    for (int c = 1; c < chunks; ++c) {
      Eigen::Map<Eigen::VectorXf>(grads_.data(), grads_.size()) +=
          Eigen::Map<const Eigen::VectorXf>(chunk_grads_[c].data(), grads_.size());
    }
    double batch_loss = 0;
    for (int c = 0; c < chunks; ++c) {
      batch_loss += chunk_loss_[c];
      epoch_q += chunk_q_[c];
    }
    return batch_loss;
  }

  // The constant rate, or with the cosine schedule lr * (1 + cos(pi * step / total)) / 2.
  double learning_rate(long step) const {
    double lr = settings_.learning_rate;
    if (settings_.cosine_schedule && total_steps_ > 0) {
      const double progress = static_cast<double>(step) / static_cast<double>(total_steps_);
      lr *= 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
    }
    return lr;
  }

  const EnergyModel& model_;
  const Matrix<float>& x_;
  const Matrix<float>& y_;
  const TrainSettings& settings_;
  const std::vector<double>& weights_;
  const double mean_weight_;
  ThreadPool pool_;
  const int rows_, chunk_size_, batches_;
  const long total_steps_;
  std::vector<int> order_;
  std::vector<ParamVector> chunk_grads_;
  std::vector<double> chunk_loss_, chunk_q_;
  ParamVector grads_;
};

// The validation NLL, proposal NLL and score of the epoch's parameters (kValid streams),
// weighted means with `weights`; the score is the tempered NLL when `tempered`.
void validate(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x_valid,
              const Matrix<float>& y_valid, const TrainSettings& settings, const std::vector<double>& weights,
              bool tempered, EpochRecord& record) {
  const NllEstimate estimate =
      evaluate_nll(model, params, x_valid, y_valid, settings.valid_samples, settings.seed ^ streams::kValid,
                   settings.threads, settings.support, &weights, tempered);
  record.valid_nll = estimate.nll;
  record.valid_proposal_nll = estimate.proposal_nll;
  record.valid_score = tempered ? estimate.tempered_nll : estimate.nll;
  record.valid_temperature = tempered ? estimate.temperature : NAN;
  if (!std::isfinite(record.valid_nll) || !std::isfinite(record.valid_score)) {
    throw NumericalError("validation NLL is not finite at epoch " + std::to_string(record.epoch) +
                         " (training diverged; try a lower --lr)");
  }
}

// Records the completed epoch in the state: the judged parameters (the average, or the
// optimiser's own without averaging) become the best ones when the validation score
// improved (without validation data every epoch is "the best": the last epoch's are
// kept), and the optimiser state is saved for resuming.
void record_epoch(TrainingState& state, const EpochRecord& record, bool has_valid, const ParamVector& params,
                  const ParamVector& judged, Adam& adam) {
  if (!has_valid || record.valid_score < state.best_valid) {
    state.best_valid = has_valid ? record.valid_score : state.best_valid;
    state.best_params = judged;
    state.best_epoch = record.epoch;
    state.epochs_since_best = 0;
  } else {
    ++state.epochs_since_best;
  }
  state.epochs_done = record.epoch;
  state.params = params;
  state.adam_m = adam.first_moment();
  state.adam_v = adam.second_moment();
  state.adam_steps = adam.steps();
  state.history.push_back(record);
}

}  // namespace

bool calibrates(const TrainSettings& settings, const Architecture& architecture, bool has_validation) {
  return settings.calibrate && has_validation && architecture.energy_form == EnergyForm::absolute;
}

TrainResult train(const EnergyModel& model, const Matrix<float>& x, const Matrix<float>& y,
                  const Matrix<float>& x_valid, const Matrix<float>& y_valid,
                  const TrainSettings& settings, const EpochCallback& on_epoch,
                  const BatchCallback& on_batch, const TrainingState* resume,
                  const std::atomic<bool>* interrupt, const TrainInputs* inputs) {
  const int n = static_cast<int>(x.cols());
  check_train_settings(model, settings, n);
  static const TrainInputs kNone;
  const TrainInputs& in = inputs != nullptr ? *inputs : kNone;
  check_weights(in, n, static_cast<int>(x_valid.cols()));
  if (!in.weights.empty() && !uses_noise_candidates(settings.objective)) {
    throw UsageError("--weight works with the methods ml-is, kld-is, nce and nce+, not with " +
                     objective_name(settings.objective));
  }
  const int epochs = resolve_epochs(settings, static_cast<std::size_t>(n));
  AdamSettings adam_settings;
  adam_settings.learning_rate = settings.learning_rate;
  adam_settings.weight_decay = settings.weight_decay;
  Adam adam(model.parameter_count(), adam_settings);
  TrainingState state = initial_state(model, settings, resume, &in.init_params, adam);
  ParamVector params = state.params;
  // The average starts at the initial parameters (or continues the resumed run's); the
  // state's copy is brought up to date once per epoch.
  const bool averaging = settings.average_decay > 0;
  ParamVector average = averaging && !state.average_params.empty() ? state.average_params : params;
  EpochRunner runner(model, x, y, settings, epochs, in.weights);
  // Epoch means: over the examples, or weighted (the sum of the weights).
  const double epoch_total =
      in.weights.empty() ? static_cast<double>(n) : std::accumulate(in.weights.begin(), in.weights.end(), 0.0);
  const bool has_valid = x_valid.cols() > 0;
  const bool tempered_score = settings.tempered_epoch_score && calibrates(settings, model.architecture(), has_valid);
  TrainResult result;
  const InterruptPoll interrupted = [&] { return interrupt != nullptr && interrupt->load(); };

  for (int epoch = state.epochs_done + 1; epoch <= epochs && !result.stopped_early; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const auto [epoch_loss, epoch_q] = runner.run(epoch, params, adam, on_batch, interrupted, average);
    if (interrupted()) {
      result.interrupted = true;  // the partial epoch is abandoned
      break;
    }
    if (!Eigen::Map<const Eigen::VectorXf>(params.data(), params.size()).allFinite()) {
      throw NumericalError("training diverged: non-finite parameters after epoch " + std::to_string(epoch) +
                           " (try a lower --lr)");
    }
    EpochRecord record;
    record.epoch = epoch;
    record.train_loss = epoch_loss / epoch_total;
    record.train_proposal_nll = epoch_q / epoch_total;
    const ParamVector& judged = averaging ? average : params;
    if (averaging && !Eigen::Map<const Eigen::VectorXf>(average.data(), average.size()).allFinite()) {
      throw NumericalError("training diverged: non-finite averaged parameters after epoch " + std::to_string(epoch) +
                           " (try a lower --lr)");
    }
    if (has_valid) validate(model, judged, x_valid, y_valid, settings, in.valid_weights, tempered_score, record);
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record_epoch(state, record, has_valid, params, judged, adam);
    if (averaging) state.average_params = average;
    if (settings.early_stopping > 0 && has_valid && state.epochs_since_best >= settings.early_stopping) {
      result.stopped_early = true;
    }
    if (on_epoch && !on_epoch(record, state)) break;
  }
  if (interrupted()) result.interrupted = true;
  if (state.adam_m.empty()) {  // no epoch completed
    state.adam_m = adam.first_moment();
    state.adam_v = adam.second_moment();
  }
  result.params = state.best_params;
  result.history = state.history;
  result.best_epoch = state.best_epoch;
  result.state = std::move(state);
  return result;
}

}  // namespace ebm
