// ebm-train: fit an energy-based model of p(y|x) and its proposal to a CSV file.
#include <atomic>
#include <csignal>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "cli_common.h"
#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/output_file.h"
#include "ebm/settings.h"
#include "ebm/thread_pool.h"

namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_training{false};  // set by run_train while its training loop runs
extern "C" void on_interrupt(int signal_number) {
  // First SIGINT/SIGTERM/SIGHUP while training: finish the current step and write the
  // checkpoint. Before training (reading the data, perhaps from a pipe that is slow to
  // end), after it, or a second signal: remove the temporary files and die of the signal.
  if (g_training.load() && !g_interrupted.exchange(true)) return;
  ebm::remove_temporary_outputs();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// Options given as text on the command line, turned into typed settings by finish().
struct TextOptions {
  std::string features, categorical, method = "nce", noise = "learned", activation = "relu", gmm_sigmas = "0.1,0.8";
  std::string x_embedding = "auto";
  std::string energy_form = "absolute";
  std::string schedule = "constant", epoch_score = "tempered", epochs = "auto", ensemble = "auto", samples = "auto", lr = "auto";
  bool no_progress = false, no_calibrate = false;
  ebm::cli::Verbosity verbosity;
  std::vector<std::string> merge;
  CLI::Option* valid_fraction = nullptr;
  ebm::cli::CsvFlags csv;
};

void add_data_options(CLI::App& app, ebm::TrainOptions& o, TextOptions& text) {
  const char* g = "Data";
  // DATA and --target are required unless --merge is given (checked in finish_options).
  app.add_option("DATA", o.data_path, "Training CSV file, or - for standard input (default)")->group(g);
  app.add_option("--target,-t", o.targets, "Target column (repeat for several targets)")->group(g);
  app.add_option("-m,--model", o.model_path, "Where to write the checkpoint (JSON)")->required()->group(g);
  app.add_option("--features,-f", text.features,
                 "Comma-separated feature columns (default: every other numeric or --categorical column)")
      ->group(g);
  app.add_option("--categorical", text.categorical,
                 "Comma-separated categorical feature columns (text or integer codes), one-hot encoded; levels not seen "
                 "in training count as unknown")
      ->group(g);
  app.add_option("--valid", o.valid_path, "Validation CSV file (same columns)")->group(g);
  text.valid_fraction = app.add_option("--valid-fraction", o.settings.valid_fraction,
                                       "Hold out this fraction of the rows for validation (0: none); the best epoch is kept")
                            ->capture_default_str()
                            ->group(g);
  app.add_option("--valid-min-rows", o.settings.valid_min_rows,
                 "...but hold out at least this many rows (at most a quarter of the data)")
      ->capture_default_str()
      ->group(g)
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--weight", o.weight, "Column of row weights >= 0 (not a feature): a weighted mean of the losses and of the validation NLL")
      ->group(g);
  text.csv.add_input(app);
  app.add_flag("--refit", o.refit, "After training, choosing the epoch and calibrating on the validation rows, train every member again on all rows (training and validation) for its best epoch count, and give it the first run's calibration (1.5-2x the training time; its calibration may then be off: see docs/usage.md)")->group(g);
}

void add_model_options(CLI::App& app, ebm::Architecture& a, TextOptions& text) {
  using B = ebm::ArchitectureBounds;
  const char* g = "Model";
  app.add_option("--hidden", a.hidden, "Width H of every hidden layer")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxHidden));
  app.add_option("--x-layers", a.x_layers, "Layers of the x-branch")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxLayers));
  app.add_option("--y-layers", a.y_layers, "Layers of the y-branch")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxLayers));
  app.add_option("--residual-blocks", a.residual_blocks, "Residual blocks in the joint network")->capture_default_str()->group(g)->check(CLI::Range(0, B::kMaxResidualBlocks));
  app.add_option("--components,-K", a.components, "Gaussian components K of the proposal")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxComponents));
  app.add_option("--activation", text.activation, "relu, tanh or silu")->capture_default_str()->group(g);
  app.add_option("--x-embedding", text.x_embedding, "Numerical feature embedding before the x-branch: none, periodic (PLR: sin/cos of learned frequencies, linear, ReLU; per feature), auto (train the first member with each for a quarter of the epochs, then only the one with the lower validation NLL) or mix (as auto, and the other one trains on as the ensemble's last member, its weight fitted on the validation rows; what auto does below " + std::to_string(ebm::kSmallDataRows) + " rows with --ensemble auto)")->capture_default_str()->group(g)->check(CLI::IsMember({"auto", "none", "periodic", "mix"}));
  app.add_option("--energy-form", text.energy_form, "absolute (the network's output is the energy f) or relative (f = log q + g: the network learns a correction g of the proposal q, which is fitted to the data by maximum likelihood; no calibration)")->capture_default_str()->group(g)->check(CLI::IsMember({"absolute", "relative"}));
  app.add_option("--embedding-frequencies", a.embedding_frequencies, "Frequencies K per feature of the periodic embedding")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxEmbeddingFrequencies));
  app.add_option("--embedding-dim", a.embedding_dim, "Values d per feature after the periodic embedding's linear map")->capture_default_str()->group(g)->check(CLI::Range(1, B::kMaxEmbeddingDim));
  app.add_option("--embedding-sigma", a.embedding_sigma, "Standard deviation of the initial frequencies (standardised units)")->capture_default_str()->group(g)->check(ebm::cli::positive_number());
}

void add_training_options(CLI::App& app, ebm::TrainSettings& s, TextOptions& text) {
  const char* g = "Training";
  app.add_option("--method", text.method, "ml-is, kld-is, ml-mcmc, nce, nce+, dsm or sm (docs/maths.md, the seven training methods)")->capture_default_str()->group(g);
  app.add_option("--noise", text.noise, "Noise/proposal for the EBM: learned (the MDN) or gmm (mixture centred at y)")->capture_default_str()->group(g);
  app.add_option("--gmm-sigmas", text.gmm_sigmas, "Standard deviations of the gmm noise, in standardised units of y")->capture_default_str()->group(g);
  app.add_option("--nce-plus-beta", s.nce_plus_beta, "NCE+ scale of the noise on the true target")->capture_default_str()->group(g);
  app.add_option("--label-sigma", s.label_sigma, "kld-is: std of the assumed label distribution N(y, s^2), standardised units")->capture_default_str()->group(g)->check(ebm::cli::positive_number());
  app.add_option("--mcmc-steps", s.mcmc_steps, "ml-mcmc: Langevin steps per chain")->capture_default_str()->group(g)->check(CLI::Range(1, ebm::kMaxMcmcSteps));
  app.add_option("--mcmc-step-size", s.mcmc_step_size, "ml-mcmc: step lambda of y <- y + lambda^2/2 df/dy + lambda z, standardised units")->capture_default_str()->group(g)->check(ebm::cli::positive_number());
  app.add_option("--dsm-sigma", s.dsm_sigma, "dsm: std of the noise added to the target, standardised units")->capture_default_str()->group(g)->check(ebm::cli::positive_number());
  app.add_option("--epochs", text.epochs, "Passes over the training data, or auto (~6000 steps, 20..500 epochs)")->capture_default_str()->group(g);
  app.add_option("--batch-size", s.batch_size, "Examples per mini-batch")->capture_default_str()->group(g)->check(CLI::Range(1, 1 << 20));
  app.add_option("--samples", text.samples, "Noise samples M per example, or auto: " + std::to_string(ebm::kNoiseSamples) + ", or " + std::to_string(ebm::kMidDataNoiseSamples) + " with --method nce from " + std::to_string(ebm::kSmallDataRows) + " training rows")->capture_default_str()->group(g);
  app.add_option("--lr", text.lr, "Adam learning rate, or auto: " + ebm::format_number(ebm::kLearningRate) + ", or " + ebm::format_number(ebm::kMidDataLearningRate) + " with --method nce from " + std::to_string(ebm::kSmallDataRows) + " training rows")->capture_default_str()->group(g)->check(ebm::cli::positive_number_or_auto());
  app.add_option("--weight-decay", s.weight_decay, "Decoupled weight decay (AdamW)")->capture_default_str()->group(g)->check(ebm::cli::non_negative_number());
  app.add_option("--average-decay", s.average_decay, "Judge and keep a moving average of the parameters, decay per step in [0, 1) (0: the optimiser's own)")->capture_default_str()->group(g)->check(ebm::cli::non_negative_number());
  app.add_option("--schedule", text.schedule, "Learning-rate schedule: constant or cosine")->capture_default_str()->group(g)->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--early-stopping", s.early_stopping, "Stop after N epochs without validation improvement (0: off)")->capture_default_str()->group(g)->check(ebm::cli::non_negative_number());
  app.add_option("--epoch-score", text.epoch_score, "What picks the kept epoch and stops early: the validation NLL at the best temperature in [1, 4] (tempered; raw without calibration) or at T = 1 (raw)")->capture_default_str()->group(g)->check(CLI::IsMember({"tempered", "raw"}));
  app.add_option("--valid-samples", s.valid_samples, "Proposal samples per row for the validation NLL")->capture_default_str()->group(g)->check(CLI::Range(2, 1 << 20));
  app.add_flag("--no-calibrate", text.no_calibrate, "Do not fit a temperature f/T on the validation rows")->group(g);
  app.add_option("--seed", s.seed, "Random seed (same seed, same result)")->capture_default_str()->group(g)->check(ebm::cli::seed_value());
}

void add_ensemble_options(CLI::App& app, ebm::TrainOptions& o, TextOptions& text) {
  const char* g = "Ensemble";
  const std::string auto_rule = "auto: " + std::to_string(ebm::kEnsembleMembers) + " members below " +
                                std::to_string(ebm::kLargeDataRows) + " training rows, else 1; below " +
                                std::to_string(ebm::kSmallDataRows) + " rows with --x-embedding auto, one more: the " +
                                "x-embedding candidate that lost the probe, its weight fitted on the validation rows";
  app.add_option("--ensemble", text.ensemble, "Train N members (seeds seed, seed+1, ...; one validation split, that of --seed) into one checkpoint; p(y|x) is their average, its temperature fitted on the validation rows. " + auto_rule + " (1 with --first-member, --checkpoint-every or --resume; the model's count with --init-model)")->capture_default_str()->group(g);
  app.add_option("--first-member", o.first_member, "Number of the first member trained (seed + K): train members apart and --merge them")->capture_default_str()->group(g)->check(CLI::Range(0, 1 << 30));
  app.add_option("--merge", text.merge, "Merge these checkpoints (same data, columns, --seed and architecture) into one ensemble written to -m; trains nothing")->group(g)->expected(2, 1 << 20);
}

void add_run_options(CLI::App& app, ebm::TrainOptions& o, TextOptions& text) {
  const char* g = "Run";
  app.add_option("--checkpoint-every", o.checkpoint_every, "Write a resumable checkpoint to -m every N epochs (0: only at the end)")->capture_default_str()->group(g)->check(ebm::cli::non_negative_number());
  app.add_option("--resume", o.resume_path, "Continue training from a checkpoint written with --checkpoint-every or by an interrupted run (same data, options, seed; a larger --epochs extends it)")->group(g);
  app.add_option("--init-model", o.init_model_path, "Start from this checkpoint's parameters and normalisation (fine-tuning on new data: same columns and architecture, fresh optimiser)")->group(g);
  app.add_option("-j,--threads", o.settings.threads, "Worker threads (results do not depend on it)")->capture_default_str()->group(g)->check(CLI::Range(1, 1024));
  text.verbosity.add(app, g, "No progress output", "One line per epoch (loss, proposal and validation NLL, time)");
  app.add_flag("--no-progress", text.no_progress, "No progress bar, even on a terminal")->group(g);
  app.add_option("--plot-history", o.plot_history_path, "Draw the training loss and validation NLL per epoch (SVG)")->group(g);
}

// The integer N in [1, max] of an option that also takes "auto" (given as text).
int count_or_auto(const std::string& text, const char* option, int max) {
  double value = 0;
  if (!ebm::parse_number(text, value) || value < 1 || value > max || value != static_cast<int>(value)) {
    throw ebm::UsageError(std::string(option) + " must be an integer from 1 to " + std::to_string(max) +
                          " or auto, found '" + text + "'");
  }
  return static_cast<int>(value);
}

// The effective options in --config format, without those that cannot change the
// checkpoint (the output path, resume, threads, output to the terminal): the same
// settings give the same checkpoint wherever it is written, with any thread count
// (`ebm-train --config FILE -m NEW.json` reproduces it). Without an x-embedding its
// options change nothing either and are left out, so such a checkpoint is the same as
// one written before the embedding existed.
// Likewise a method's own options are recorded only with that method.
std::string recorded_config(const CLI::App& app, bool has_x_embedding, bool default_na_values,
                            const std::string& method) {
  std::istringstream lines(ebm::cli::effective_config(app));
  std::string line, out;
  while (std::getline(lines, line)) {
    bool recorded = true;
    for (const char* key : {"model=", "resume=", "threads=", "quiet=", "verbose=", "no-progress=", "plot-history=",
                            "merge="}) {
      if (line.rfind(key, 0) == 0) recorded = false;
    }
    // A single model's record stays as it was before ensembles existed.
    if (line == "ensemble=1" || line == "first-member=0") recorded = false;
    // Likewise for the missing-value tokens when they are the default ones.
    if (default_na_values && line.rfind("na-values=", 0) == 0) recorded = false;
    for (const char* key : {"x-embedding=", "embedding-frequencies=", "embedding-dim=", "embedding-sigma="}) {
      if (!has_x_embedding && line.rfind(key, 0) == 0) recorded = false;
    }
    const std::pair<const char*, const char*> method_options[] = {
        {"label-sigma=", "kld-is"}, {"mcmc-steps=", "ml-mcmc"}, {"mcmc-step-size=", "ml-mcmc"}, {"dsm-sigma=", "dsm"}};
    for (const auto& [key, owner] : method_options) {
      if (method != owner && line.rfind(key, 0) == 0) recorded = false;
    }
    if (recorded) out += line + '\n';
  }
  return out;
}

// Typed settings from the text options; the library validates the values (settings.h).
void finish_options(const CLI::App& app, ebm::TrainOptions& o, const TextOptions& text) {
  if (text.merge.empty()) {
    if (o.data_path.empty()) o.data_path = "-";  // like ebm-predict and ebm-sample
    if (o.targets.empty()) throw ebm::UsageError("--target is required");
  } else if (!o.data_path.empty() || !o.targets.empty()) {
    throw ebm::UsageError("--merge combines trained checkpoints: it takes no DATA or --target");
  }
  // An explicit validation file replaces the default held-out fraction.
  if (!o.valid_path.empty() && text.valid_fraction->count() == 0) o.settings.valid_fraction = 0.0;
  if (text.epochs != "auto") o.settings.epochs = count_or_auto(text.epochs, "--epochs", 1000000);
  o.auto_samples = text.samples == "auto";
  if (!o.auto_samples) o.settings.samples = count_or_auto(text.samples, "--samples", 1 << 20);
  o.auto_lr = text.lr == "auto";
  if (!o.auto_lr) ebm::parse_number(text.lr, o.settings.learning_rate);  // checked by the option's validator
  o.auto_ensemble = text.ensemble == "auto";
  if (!o.auto_ensemble) o.ensemble = count_or_auto(text.ensemble, "--ensemble", 1000);
  if (!text.features.empty()) o.features = ebm::cli::split_names(text.features, "--features");
  o.csv = text.csv.input();
  o.settings.objective = ebm::objective_from_name(text.method);
  o.settings.noise = ebm::noise_from_name(text.noise);
  o.settings.gmm_sigmas = ebm::parse_number_list(text.gmm_sigmas, "--gmm-sigmas");
  o.settings.cosine_schedule = text.schedule == "cosine";
  o.settings.tempered_epoch_score = text.epoch_score == "tempered";
  o.settings.calibrate = !text.no_calibrate;
  o.architecture.activation = ebm::activation_from_name(text.activation);
  o.architecture.energy_form = ebm::energy_form_from_name(text.energy_form);
  o.select_x_embedding = text.x_embedding == "auto" || text.x_embedding == "mix";
  o.mix_x_embedding = text.x_embedding == "mix";
  o.architecture.x_embedding =
      o.select_x_embedding ? ebm::XEmbedding::periodic : ebm::x_embedding_from_name(text.x_embedding);
  text.verbosity.check();
  o.verbosity = text.verbosity.quiet ? 0 : 1 + text.verbosity.verbose;
  o.progress_bar = !text.verbosity.quiet && !text.no_progress && isatty(STDERR_FILENO);
  o.log = &std::cerr;
  o.interrupt = &g_interrupted;
  o.training = &g_training;
  if (!text.categorical.empty()) o.categorical = ebm::cli::split_names(text.categorical, "--categorical");
  o.config = recorded_config(app, o.architecture.x_embedding != ebm::XEmbedding::none,
                             text.csv.na_values == ebm::cli::default_na_values(),
                             ebm::objective_name(o.settings.objective));
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string program = "ebm-train";
  CLI::App app{"Train a conditional energy-based model p(y|x) = exp f(x,y) / Z(x) with a learned\n"
               "mixture-density proposal q(y|x), from a CSV file with a header row.",
               program};
  app.footer(
      "Examples:\n"
      "  ebm-train data/bimodal_train.csv --target y -m model.json\n"
      "  ebm-train train.csv --target price --features area,rooms -m m.json --valid-fraction 0.1 --early-stopping 10\n"
      "  ebm-train data/mixed_train.csv --target y --categorical group -m m.json\n"
      "  cat train.csv | ebm-train - --target y1 --target y2 -m m.json --method ml-is\n"
      "  ebm-train train.csv --target y -m ensemble.json --ensemble 5\n"
      "  ebm-train train.csv --target y --weight w -m weighted.json\n"
      "  ebm-train new.csv --target y --init-model model.json --epochs 20 -m tuned.json\n"
      "  ebm-train --merge member0.json member1.json -m ensemble.json\n"
      "Output: the JSON checkpoint (-m); progress on stderr.\n"
      "Exit: 0 ok, 1 data/model error, 2 usage error, 130 interrupted (checkpoint of the last epoch written).");
  app.set_version_flag("--version", ebm::cli::version_string(program));
  app.get_formatter()->column_width(34);

  ebm::TrainOptions o;
  o.settings.threads = ebm::hardware_threads();
  TextOptions text;
  add_data_options(app, o, text);
  add_model_options(app, o.architecture, text);
  add_training_options(app, o.settings, text);
  add_ensemble_options(app, o, text);
  add_run_options(app, o, text);

  return ebm::cli::run_main(program, app, argc, argv, [&] {
    finish_options(app, o, text);
    if (!text.merge.empty()) {
      ebm::run_merge(text.merge, o.model_path);
      if (o.verbosity >= 1) std::cerr << "wrote " << o.model_path << " (" << text.merge.size() << " checkpoints merged)\n";
      return;
    }
    ebm::cli::install_signal_handler(on_interrupt);
    // Progress goes to stderr; if whoever reads it goes away (ebm-train ... 2>&1 | head),
    // training carries on and still writes its checkpoint.
    std::signal(SIGPIPE, SIG_IGN);
    const ebm::TrainSummary summary = ebm::run_train(o);
    if (summary.interrupted) throw ebm::Interrupted("interrupted");
  });
}
