// Training of the energy model and its proposal on standardised data.
//
// Per mini-batch of B examples, each example i gets C = M + 1 candidates:
// candidate 0 is y_i (NCE+: y_i + eps_0), candidates 1..M are draws from the noise
// distribution (the learned proposal q_phi(.|x_i), or the Gaussian mixture centred at y_i).
//   EBM:      NCE / NCE+ / ML-IS / KLD-IS loss on the candidate energies (objectives.h);
//             ML-MCMC, DSM and SM use derivatives of f w.r.t. y instead (Langevin chains,
//             score matching: model_derivatives.cpp), and their proposal still learns by
//             J_KL on M draws of its own, scored by the EBM;
//   proposal: J_KL, gradient -sum_m w_m grad_phi log q_phi(y_m|x_i), w = softmax(f - log q_noise)
// Both are averaged over the batch and minimised together by one Adam optimiser.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ebm/ensemble.h"
#include "ebm/inference.h"
#include "ebm/model.h"
#include "ebm/objectives.h"

namespace ebm {

enum class NoiseKind { learned, gmm };

std::string objective_name(Objective objective);
Objective objective_from_name(const std::string& name);  // throws UsageError
std::string noise_name(NoiseKind noise);
NoiseKind noise_from_name(const std::string& name);

// Noise samples M per example unless given (or chosen by ebm-train's --samples auto).
constexpr int kNoiseSamples = 64;
// Adam's learning rate unless given (or chosen by ebm-train's --lr auto).
constexpr double kLearningRate = 1e-3;
// The decay per optimiser step of the parameter average unless given (--average-decay).
// On all 20 splits of the six UCI sets the average lowered the test NLL of v11 by 0.004
// (Boston) to 0.093 (energy) nats; 0.999 did no better on kin8nm and power-plant, and
// with the warm-up no run there reaches it (docs/benchmarks.md v12).
constexpr double kAverageDecay = 0.99;

struct TrainSettings {
  Objective objective = Objective::nce;
  NoiseKind noise = NoiseKind::learned;
  std::vector<double> gmm_sigmas{0.1, 0.8};  // standardised units of y
  double nce_plus_beta = 0.025;
  // Settings of the other methods (standardised units of y; each recorded in a checkpoint
  // only by the method that uses it, so other checkpoints are unchanged):
  double label_sigma = 0.025;   // kld-is: std of the assumed label distribution N(y_i, s^2)
  int mcmc_steps = 16;          // ml-mcmc: Langevin steps L per chain
  double mcmc_step_size = 0.05;  // ml-mcmc: lambda in y <- y + lambda^2/2 df/dy + lambda z
  double dsm_sigma = 0.2;       // dsm: std of the perturbation of the target
  int epochs = 0;             // 0 = automatic: about auto_steps optimiser steps, 20..500 epochs
  int auto_steps = 6000;
  int batch_size = 32;
  int samples = kNoiseSamples;  // M noise samples per example
  double learning_rate = kLearningRate;
  double weight_decay = 0.01;   // decoupled (AdamW); mild, improves calibration on small data
  bool cosine_schedule = false;  // decay the learning rate to 0 with a half cosine
  // The parameters judged, kept and saved are a moving average of the optimiser's
  // (update_parameter_average; 0: the optimiser's own).
  double average_decay = kAverageDecay;
  std::uint64_t seed = 0;
  int threads = 1;
  // Stop after this many epochs without validation improvement (0: off). 45, not 30: on
  // low-noise data (UCI energy, yacht) the averaged model's validation NLL plateaus for
  // 30-60 epochs and then improves again (docs/benchmarks.md v13); 60 gained a little more
  // but cost more than the benchmark's time budget allows.
  int early_stopping = 45;
  int valid_samples = 256;     // proposal samples per row for the validation NLL estimate
  // Held-out rows (ebm-train; train() itself takes its validation rows as given): this
  // fraction of the training file, but at least valid_min_rows (at most a quarter of it).
  double valid_fraction = 0.1;
  int valid_min_rows = 64;
  bool calibrate = true;       // fit the proposal width and a temperature f/T on the validation rows
  // Judge each epoch by its validation NLL at the best temperature in [1, 4] rather than at
  // T = 1, when the model is calibrated (calibrates()): calibration will temper the kept
  // epoch anyway, so an epoch whose only fault is over-confidence is not a worse model.
  // At T = 1, NLL early stopping ends the run when the model starts to be over-confident,
  // before the mean has been learnt. On all 20 splits of the four small UCI sets, with
  // v13's members, it lowered the test NLL by 0.015 (yacht) to 0.136 (concrete) nats and
  // Boston's RMSE from 3.36 to 3.15; it costs longer runs, paid for by one member fewer on
  // small sets (docs/benchmarks.md v14). Checkpoints without the key read as false.
  bool tempered_epoch_score = true;
  // Not an option: where p(y|x) is normalised (standardised units), set by ebm-train from
  // the training rows; the validation NLL and the temperature use the estimator that
  // predictions use (quadrature over it for one target; empty: SNIS).
  TargetSupport support;
  // Not an option: per target, the lattice step in standardised units (0: continuous), set
  // by ebm-train; lattice targets are dequantised in training (lattice.h).
  std::vector<double> lattice_step;
};

// Whether a model with this architecture is calibrated on the validation rows after
// training: not with --no-calibrate (settings.calibrate), not without validation rows, and
// not with a relative energy, whose proposal width and temperature would move the base
// log q the correction g was fitted to.
bool calibrates(const TrainSettings& settings, const Architecture& architecture, bool has_validation);

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0;          // EBM objective, mean over examples
  double train_proposal_nll = 0;  // -log q_phi(y_i|x_i), standardised units (logging only)
  double valid_nll = NAN;         // -log p(y|x) estimate in standardised units (NaN: no validation)
  double valid_proposal_nll = NAN;
  // What judges the epoch (the kept epoch, early stopping): with a tempered epoch score,
  // the validation NLL at the best temperature T = valid_temperature (NllEstimate),
  // otherwise valid_nll (valid_temperature NaN).
  double valid_score = NAN;
  double valid_temperature = NAN;
  double seconds = 0;
};

// One step of the parameter average (docs/maths.md, "Parameter averaging"): after the
// optimiser's step number t (1, 2, ...), average <- d_t average + (1 - d_t) params with
// d_t = min(decay, (1 + t) / (10 + t)). Early on d_t is smaller than `decay`, so the
// average forgets the random initialisation quickly: it weighs step s about as
// (s / t)^8, a lag of about a tenth of the steps, until d_t reaches `decay`.
void update_parameter_average(ParamVector& average, const ParamVector& params, double decay, long step);

// Number of epochs to run: settings.epochs, or for 0 the automatic choice
// clamp(ceil(auto_steps / batches per epoch), 20, 500): small data sets get more passes,
// large ones fewer, at a similar number of optimiser steps.
int resolve_epochs(const TrainSettings& settings, std::size_t train_rows);

// Everything needed to continue training exactly where it stopped: a run resumed from
// the state after epoch k gives bit-identical results to an uninterrupted run (the random
// streams depend only on seed, epoch and example index).
struct TrainingState {
  int epochs_done = 0;
  ParamVector params;                 // after epochs_done epochs
  ParamVector average_params;         // their moving average (empty when average_decay = 0)
  ParamVector adam_m, adam_v;         // Adam moments
  long adam_steps = 0;
  ParamVector best_params;            // best validation epoch so far (or current)
  double best_valid = INFINITY;              // its validation score (EpochRecord, standardised units)
  int best_epoch = 0;
  int epochs_since_best = 0;
  std::vector<EpochRecord> history;
};

struct TrainResult {
  ParamVector params;  // best epoch's (with validation) or the last epoch's
  std::vector<EpochRecord> history;
  int best_epoch = 0;
  bool stopped_early = false;
  bool interrupted = false;   // the interrupt flag was raised; state holds the last full epoch
  TrainingState state;        // at the end of the last completed epoch
};

// Optional inputs of a training run besides the data and the settings.
struct TrainInputs {
  // Per-example weights >= 0 (ebm-train --weight), one per column of x (weights) and of
  // x_valid (valid_weights); empty = every example weighs 1. The objective becomes the
  // weighted mean of the per-example losses (docs/maths.md §6a): each example's loss and
  // gradient are multiplied by w_i / mean(w) before the batch mean, and the validation
  // NLL (early stopping) is the weighted mean over the validation rows.
  std::vector<double> weights, valid_weights;
  // Start from these parameters (ebm-train --init-model) instead of a fresh
  // initialisation; the optimiser state starts fresh. Empty = initialise.
  ParamVector init_params;
};

// Called after every completed epoch with the state; return false to stop training.
using EpochCallback = std::function<bool(const EpochRecord&, const TrainingState& state)>;
// Called after every batch with (batch index, batches per epoch) for progress display.
using BatchCallback = std::function<void(int, int)>;

// x: x_dim x N and y: y_dim x N, standardised. Validation data may be empty (0 columns).
// `resume` continues from a saved state. `interrupt` is polled after every batch: when it
// is set, the partial epoch is abandoned and the result describes the last full epoch.
TrainResult train(const EnergyModel& model, const Matrix<float>& x, const Matrix<float>& y,
                  const Matrix<float>& x_valid, const Matrix<float>& y_valid,
                  const TrainSettings& settings, const EpochCallback& on_epoch = nullptr,
                  const BatchCallback& on_batch = nullptr, const TrainingState* resume = nullptr,
                  const std::atomic<bool>* interrupt = nullptr, const TrainInputs* inputs = nullptr);

// Loss gradient for the examples `indices` of (x, y): every per-example gradient is
// divided by `normaliser` (the batch size B) and added to `grads`. Example i draws its
// random numbers from stream `stream_base + i`. Returns the sum of the per-example EBM
// losses and adds the sum of -log q_phi(y_i|x_i) to *proposal_nll. With `weights`
// (indexed like the columns of x), example i's loss, gradient and proposal NLL are
// multiplied by weights[i] (sums become weighted sums; an example listed twice counts
// twice, so weight 2 equals the example duplicated).
// The gradient is that of
//   1/B sum_i L_i(f_theta(x_i, y_ic), log q_noise(y_ic))  -  1/B sum_i sum_m w_im log q_phi(y_im|x_i)
// with the candidates y_ic (draw_candidates), their log q_noise and the importance weights
// w_im = softmax_m(f_theta(x_i, y_im) - log q_noise(y_im)) held at their values for the
// given parameters: learned-noise draws depend on phi, but no gradient flows through them
// or through log q_noise; and the proposal's input (the x-features) is held constant, so
// the second term (J_KL) moves the proposal heads only.
template <typename S>
double batch_gradient(const EnergyModel& model, const S* params, const Matrix<S>& x,
                      const Matrix<S>& y, const std::vector<int>& indices,
                      const TrainSettings& settings, std::uint64_t stream_base, double normaliser,
                      S* grads, double* proposal_nll = nullptr, const std::vector<double>* weights = nullptr);

// The candidates of batch_gradient (its first stage), for the examples of y_batch
// (y_dim x E: the targets of examples `indices`, proposal q computed for them). Example e
// draws from random stream stream_base + indices[e]; its C = M + 1 candidates are columns
// e*C .. e*C+M of y: first the target (NCE+: plus an offset with the gmm scales times
// beta), then M draws from the noise distribution. log_noise (C x E) holds log q_noise of
// every candidate. For learned noise, responsibilities[e] (K x C) holds the posterior over
// the proposal's components of each candidate; it is empty for gmm noise.
template <typename S>
struct BatchCandidates {
  Matrix<S> y;
  Matrix<S> log_noise;
  std::vector<Matrix<S>> responsibilities;
};
template <typename S>
BatchCandidates<S> draw_candidates(const MdnOutput<S>& q, const Matrix<S>& y_batch, const std::vector<int>& indices,
                                   const TrainSettings& settings, std::uint64_t stream_base);

// The temperatures an epoch's tempered validation NLL is the best of: T = 2^(j/8),
// j = 0..16, the range [1, 4] that calibration searches (fit_temperature) in steps of 9%.
constexpr int kEpochScoreTemperatures = 17;
constexpr double kEpochScoreTemperatureStep = 0.125;  // log2 T between neighbours

// What evaluate_nll measures on a data set (standardised units; weighted means with weights).
struct NllEstimate {
  double nll = NAN;           // mean -log p(y|x), the estimate predictions report
  double proposal_nll = NAN;  // mean -log q(y|x)
  // With a temperature search: the lowest mean -log p_T(y|x) over the temperatures
  // 2^(j/8) (log p_T as fit_temperature computes it on the same candidates), and its T.
  double tempered_nll = NAN;
  double temperature = NAN;
};

// The NllEstimate of a data set, computed with `samples` proposal draws per row and the
// given seed; weighted means with `weights` (one per row, not all zero; null or empty =
// unweighted); tempered_nll and temperature only when `search_temperature`.
NllEstimate evaluate_nll(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                         const Matrix<float>& y, int samples, std::uint64_t seed, int threads,
                         const TargetSupport& support = {}, const std::vector<double>* weights = nullptr,
                         bool search_temperature = false);

// Width factor s >= 1 for the proposal's standard deviations minimising the validation
// rows' proposal NLL, -mean log q_s(y|x), over s = 2^(j/4), j = 0..16 (s in [1, 16]).
// The proposal is trained only through the EBM's importance weights and can end far
// narrower than the EBM where the data is small (yacht: proposal NLL 0.76 on the training
// rows, 5.1 on validation), so that SNIS sees an effective sample size near 1 and
// under-estimates log Z (log-densities 1.6 nats too high on yacht against a grid). A wider
// proposal restores the overlap; s = 1 where the proposal already fits.
// nll_before / nll_after receive the proposal NLL at s = 1 and at the optimum
// (standardised units). With `weights` (one per row), weighted means.
double fit_proposal_scale(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                          const Matrix<float>& y, double* nll_before = nullptr, double* nll_after = nullptr,
                          const std::vector<double>* weights = nullptr);

// Temperature T minimising the validation NLL of p_T(y|x) = exp(f/T) / Z_T(x), with Z_T
// estimated as predictions estimate Z (SNIS with the proposal, or quadrature over the
// support: log Z_T = LSE_i (f_i / T + log_base_i) on the same candidates for every T), searched over
// log T in [0, log 4] by golden section. Over-confident models (intervals too narrow, a
// symptom of fitting the training rows too closely) get T > 1. T is never below 1:
// sharpening on a small validation split overfits it (seen on yacht: 28 validation rows,
// T < 1 took 90% coverage from 0.80 to 0.43).
// nll_before / nll_after receive the validation NLL at T = 1 and at the optimum
// (standardised units). With `weights` (one per row), the weighted mean NLL.
// row_log_density receives every row's log p_T(y_i|x_i) at the fitted T, from the same
// estimate (what the x-embedding choice compares without evaluating the rows again).
double fit_temperature(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                       const Matrix<float>& y, int samples, std::uint64_t seed, int threads,
                       double* nll_before = nullptr, double* nll_after = nullptr, const TargetSupport& support = {},
                       const std::vector<double>* weights = nullptr, std::vector<double>* row_log_density = nullptr);

// What a temperature is fitted on, for one model and a set of rows (standardised units):
// per row i, the energies f_ic of its C importance candidates (or quadrature nodes) with
// their log base measure (-inf outside the support), C x n, and the energy f_i0 at the
// observed y. log p_T(y_i|x_i) = f_i0 / T - LSE_c(f_ic / T + log_base_ic).
struct TemperingData {
  Eigen::MatrixXd draw_energy, draw_log_base;
  Eigen::VectorXd observed_energy;
};
TemperingData tempering_data(const EnergyModel& model, const ParamVector& params, const Matrix<float>& x,
                             const Matrix<float>& y, int samples, std::uint64_t seed, int threads,
                             const TargetSupport& support);

// log p_T(y_i|x_i) = f_i0 / T - LSE_c(f_ic / T + log_base_ic) of every row (standardised
// units): the per-row terms whose mean is the validation NLL the calibration reports.
std::vector<double> row_log_densities(const TemperingData& t, double temperature = 1.0);

// Mean NLL of the mixture (1/N) sum_n p_n,T(y|x) of the members' tempered densities, one
// T = exp(log_t) for all: mean_i [ log N - LSE_n log p_n,T(y_i|x_i) ] (weighted when
// `weights` is non-empty). With one member, exactly mean_i [LSE_c(...) - f_i0 / T].
double tempered_mixture_nll(const std::vector<TemperingData>& members, double log_t,
                            const std::vector<double>* weights = nullptr);

// The T minimising tempered_mixture_nll over log T in [log_lo, log_hi] (golden section),
// or 1 when none beats T = 1. nll_before / nll_after: the NLL at T = 1 and at the result.
double fit_mixture_temperature(const std::vector<TemperingData>& members, double log_lo, double log_hi,
                               const std::vector<double>* weights = nullptr, double* nll_before = nullptr,
                               double* nll_after = nullptr);

// The lower bound of the ensemble's shared temperature (fit_ensemble_calibration).
// 0.6: yacht's and energy's validation rows ask for a sharper mixture than 0.75 (the bound
// held on all 20 yacht splits of UCI v8, whose 90% coverage was 0.934); 0.5 over-sharpened energy
// (docs/maths.md §8c, docs/benchmarks.md v9).
constexpr double kEnsembleTemperatureMin = 0.6;
constexpr Eigen::Index kEnsembleCalibrationRows = 4096;

// The mixture NLL of two groups of members at one temperature: the members with `other[n]`
// set weigh w in all (w / N_other each), the rest 1 - w ((1 - w) / N_kept each):
//   mean_i -log[(1 - w) A_i + w B_i],  A_i = (1/N_kept) sum_{kept} p_n,T(y_i|x_i), B_i likewise.
// The x-embedding mix (maths.md §8c): the members of the candidate that lost the probe are
// `other`.
double two_group_mixture_nll(const std::vector<TemperingData>& members, const std::vector<bool>& other, double log_t,
                             double w, const std::vector<double>* weights = nullptr);
// The w in [0, 1] minimising two_group_mixture_nll at log_t (convex in w: golden section).
double fit_group_weight(const std::vector<TemperingData>& members, const std::vector<bool>& other, double log_t,
                        const std::vector<double>* weights = nullptr);

// What an ensemble's calibration fitted (maths.md §8c): the shared temperature, the weight
// of the `other` members (NaN without any) and the validation NLL before (T = 1, equal
// weights) and after.
struct EnsembleCalibration {
  double temperature = 1.0;
  double other_weight = NAN;
  double nll_before = NAN, nll_after = NAN;
};

// fit_ensemble_calibration on given tempering data (one per member), log T in
// [log_lo, log_hi].
EnsembleCalibration fit_two_group_calibration(const std::vector<TemperingData>& members,
                                              const std::vector<bool>& other, double log_lo, double log_hi,
                                              const std::vector<double>* weights = nullptr);

// The shared temperature of an ensemble (docs/maths.md §8c): after each member's own
// calibration, averaging the members adds their disagreement to the spread, so the
// mixture is usually too wide where each member alone was too narrow. One T for every
// member's energy, fitted on the mixture's validation NLL over log T in
// [log kEnsembleTemperatureMin, log 4]; at most kEnsembleCalibrationRows rows (the first)
// are used. Member n's candidates use seeds[n]; the members' own weights are not read.
// With `other` (one flag per member, some set, some not), the weight w of the other
// members is fitted with T: the profile NLL min_w two_group_mixture_nll(log T, w) is
// minimised over log T, and w = fit_group_weight there. When nothing beats T = 1 with
// equal weights, T = 1 and w = N_other / N (equal weights).
EnsembleCalibration fit_ensemble_calibration(const std::vector<Member>& members, const std::vector<bool>& other,
                                             const Matrix<float>& x, const Matrix<float>& y, int samples,
                                             const std::vector<std::uint64_t>& seeds, int threads,
                                             const TargetSupport& support,
                                             const std::vector<double>* weights = nullptr);

}  // namespace ebm
