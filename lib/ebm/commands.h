// The user-level operations behind ebm-train, ebm-predict, ebm-sample and ebm-inspect.
// The executables only parse options into these structs and report errors; tests call
// the same functions directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/csv.h"
#include "ebm/input_chunks.h"
#include "ebm/metrics.h"
#include "ebm/model.h"
#include "ebm/training.h"

namespace ebm {

// --ensemble auto: kEnsembleMembers members below kLargeDataRows training rows, else 1
// (auto_ensemble_size). Below kSmallDataRows an --x-embedding auto run also keeps the
// candidate that lost the probe, as one member more with a fitted weight (the x-embedding
// mix; resolve_ensemble in train_command.cpp).
constexpr std::size_t kSmallDataRows = 1000;
constexpr std::size_t kLargeDataRows = 100000;
constexpr int kEnsembleMembers = 2;
// The number of members --ensemble auto trains on `train_rows` training rows.
int auto_ensemble_size(std::size_t train_rows);
// --samples auto: kNoiseSamples (training.h) noise samples per example, but
// kMidDataNoiseSamples with NCE from kSmallDataRows training rows (auto_noise_samples).
constexpr int kMidDataNoiseSamples = 32;
int auto_noise_samples(std::size_t train_rows, Objective objective);
// --lr auto: kLearningRate (training.h), but kMidDataLearningRate with NCE from
// kSmallDataRows training rows (auto_learning_rate).
constexpr double kMidDataLearningRate = 2e-3;
double auto_learning_rate(std::size_t train_rows, Objective objective);

struct TrainOptions {
  std::string data_path;                 // "-" = stdin
  std::string model_path;                // output checkpoint
  std::string plot_history_path;         // SVG of the losses per epoch (written with the model)
  std::string config;                    // the effective options in --config format, recorded in the checkpoint
  std::vector<std::string> targets;      // at least one
  std::vector<std::string> features;     // empty = every other numeric or categorical column
  std::vector<std::string> categorical;  // categorical features (text or integer codes), one-hot encoded
  std::string valid_path;                // optional validation file
  std::string weight;                    // column of per-row weights >= 0 ("" = every row weighs 1)
  std::string init_model_path;           // start from this checkpoint's parameters (fine-tuning; "" = initialise)
  double valid_fraction = 0.1;           // or carve this fraction off the training rows,
  int valid_min_rows = 64;               // but at least this many (at most a quarter of them)
  CsvOptions csv;
  Architecture architecture;             // x_dim / y_dim are set from the data
  // --x-embedding auto: train member 1 without an x-embedding and with the periodic one of
  // `architecture` (its sizes), and keep the one with the lower validation NLL (after
  // calibration); the other members then use the chosen one. Needs validation rows (else
  // none), and is resolved from the checkpoint with --resume or --init-model.
  bool select_x_embedding = false;
  // --x-embedding mix (with select_x_embedding): the candidate that loses also trains on,
  // as the last member of the ensemble (at least 2 members), and its mixture weight is
  // fitted with the shared temperature (maths.md §8c).
  bool mix_x_embedding = false;
  // After the members are trained, chosen and calibrated on the validation rows, train
  // each again on all rows (training and validation) for its best epoch count and give it
  // the first run's calibration (refit_members in train_command.cpp). Off by default: the
  // calibration does not carry over well enough (benchmarks.md, "Refitting on all rows").
  bool refit = false;
  TrainSettings settings;
  int verbosity = 1;                     // 0 quiet, 1 per-epoch lines, 2 more detail
  bool progress_bar = false;             // redraw a progress line on the log stream
  std::ostream* log = nullptr;           // progress and messages (stderr in the apps)
  const std::atomic<bool>* interrupt = nullptr;  // set (e.g. by SIGINT) to stop after the current step
  // Set to true while the training loop runs (and so checks `interrupt`), false otherwise:
  // a signal handler then knows whether to ask for a checkpoint or to end the process.
  std::atomic<bool>* training = nullptr;
  int checkpoint_every = 0;              // write a resumable checkpoint every N epochs (0: never)
  std::string resume_path;               // continue from this checkpoint's training state
  // An ensemble (ensemble.h): members first_member .. first_member + ensemble - 1, member k
  // trained and calibrated with seed + k (initialisation, noise, validation estimates) on
  // the rows and validation split of `settings.seed`, so members trained apart (by
  // first_member) merge into exactly the ensemble trained at once.
  int ensemble = 1;
  // Choose the number of members from the data (resolve_ensemble, auto_ensemble_size);
  // `ensemble` is then ignored.
  bool auto_ensemble = false;
  // Choose settings.samples from the data (auto_noise_samples); settings.samples is then ignored.
  bool auto_samples = false;
  // Choose settings.learning_rate from the data (auto_learning_rate); it is then ignored.
  bool auto_lr = false;
  int first_member = 0;
};

struct TrainSummary {
  Checkpoint checkpoint;
  TrainResult result;
  std::size_t train_rows = 0, valid_rows = 0;
  std::vector<std::string> ignored_text_columns;
  std::size_t rows_without_target = 0;   // rows skipped because a target cell is missing
  bool interrupted = false;              // stopped by the interrupt flag (checkpoint holds the last epoch)
};

TrainSummary run_train(const TrainOptions& options);

// ebm-train --merge: loads the checkpoints, merges their members (merge_checkpoints: they
// must be compatible) and writes the ensemble to output_path atomically.
Checkpoint run_merge(const std::vector<std::string>& input_paths, const std::string& output_path);

struct PredictOptions {
  std::string model_path;
  std::string data_path = "-";
  std::string output_path = "-";
  int samples = 1024;
  std::vector<double> intervals;         // central interval probabilities, e.g. {0.5, 0.9} (empty = no columns)
  std::vector<double> quantiles;
  bool mode = false;
  int mode_steps = 50;
  bool logpdf = false;
  bool ess = false;                      // add the effective sample size column
  bool flag_extrapolation = false;       // add outside_training: features outside the training range
  bool on_lattice = false;               // intervals, quantiles and mode of a lattice target snapped to it
  std::vector<std::string> keep;
  std::string metrics_path;              // write metrics JSON here (needs the targets)
  std::string plot_path;                 // SVG heat map of p(y|x) (one feature, one target)
  std::string report_path;               // SVG calibration curve and PIT histogram (needs the targets)
  bool evaluate = false;                 // compute PredictSummary::metrics when the targets are present
  double metrics_interval = 0.9;         // interval used for coverage when no interval is given
  std::uint64_t seed = 0;
  int threads = 1;
  int chunk_rows = 1024;                 // rows read, predicted and written at a time
  CsvOptions csv;
  CsvOptions output_csv;
  int precision = 0;                     // 0 = shortest round-trip
  std::ostream* progress = nullptr;      // if set (a terminal): rows done and rows/s, redrawn in place
  std::ostream* warnings = nullptr;      // if set (stderr unless -q): warnings about the input and the extrapolation warning
};

struct PredictSummary {
  std::size_t rows = 0;
  ExtrapolationCounts extrapolation;     // rows outside the training range / with a very low ESS
  std::size_t rows_without_target = 0;   // rows with a missing target cell (not scored)
  nlohmann::ordered_json metrics;        // empty unless the targets were present
  std::vector<std::vector<long>> pit_counts;  // per target, kPitFineBins counts of PIT values
};

PredictSummary run_predict(const PredictOptions& options);

struct SampleOptions {
  std::string model_path;
  std::string data_path = "-";
  std::string output_path = "-";
  int draws = 100;                       // N samples per input row
  int proposal_samples = 0;              // M proposal draws to resample from (0 = max(1024, 4N))
  int langevin_steps = 0;
  double langevin_step = 0.05;           // step size in standardised units of y
  std::vector<std::string> keep;
  std::uint64_t seed = 0;
  int threads = 1;
  CsvOptions csv;
  CsvOptions output_csv;
  int precision = 0;
  bool flag_extrapolation = false;       // add outside_training to every draw's row
  bool on_lattice = false;               // draws of a lattice target snapped to it
  std::ostream* progress = nullptr;      // as in PredictOptions
  std::ostream* warnings = nullptr;      // as in PredictOptions
};

std::size_t run_sample(const SampleOptions& options);

// ebm-inspect: a checkpoint's columns (name, kind and training statistics), architecture,
// training settings, history summary and calibration; with data_path (a CSV with the
// features and targets), the permutation importance of each feature: the increase of the
// mean NLL when that feature's column is shuffled (inspect_command.cpp).
struct InspectOptions {
  std::string model_path;
  std::string data_path;                 // "" = no importance; "-" = stdin
  CsvOptions csv;
  int samples = 1024;                    // proposal samples per row, as ebm-predict --samples
  int repeats = 1;                       // shuffles per feature (their mean; sd if > 1)
  std::uint64_t seed = 0;                // proposal draws (as ebm-predict --seed) and shuffles
  int threads = 1;
};

// The report as JSON (ebm-inspect --json; keys in docs/usage.md), and as text.
nlohmann::ordered_json run_inspect(const InspectOptions& options);
std::string inspect_text(const nlohmann::ordered_json& report);


}  // namespace ebm
