// ebm-train: fit an energy-based model of p(y|x) and its proposal to a CSV file.
#include <atomic>
#include <csignal>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "cli_common.h"
#include "ebm/commands.h"
#include "ebm/errors.h"
#include "ebm/thread_pool.h"

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int signal_number) {
  // First SIGINT/SIGTERM: finish the current step and write the checkpoint. Second: die.
  g_interrupted.store(true);
  std::signal(signal_number, SIG_DFL);
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
      "  cat train.csv | ebm-train - --target y1 --target y2 -m m.json --method ml-is\n"
      "Output: the JSON checkpoint (-m); progress on stderr.\n"
      "Exit: 0 ok, 1 data/model error, 2 usage error, 130 interrupted (checkpoint of the last epoch written).");
  app.set_version_flag("--version", ebm::cli::version_string(program));
  app.get_formatter()->column_width(34);

  ebm::TrainOptions o;
  std::string features;
  std::string method = "nce", noise = "learned", activation = "relu", gmm_sigmas = "0.1,0.8", schedule = "constant";
  std::string epochs = "auto";
  bool quiet = false;
  int verbose = 0;
  bool no_progress = false;
  o.settings.threads = ebm::hardware_threads();
  ebm::cli::CsvFlags csv;

  app.add_option("DATA", o.data_path, "Training CSV file, or - for standard input")->required()->group("Data");
  app.add_option("--target,-t", o.targets, "Target column (repeat for several targets)")->required()->group("Data");
  app.add_option("-m,--model", o.model_path, "Where to write the checkpoint (JSON)")->required()->group("Data");
  app.add_option("--features,-f", features, "Comma-separated feature columns (default: every other numeric column)")
      ->group("Data");
  app.add_option("--valid", o.valid_path, "Validation CSV file (same columns)")->group("Data");
  auto* valid_fraction = app.add_option("--valid-fraction", o.valid_fraction,
                                        "Hold out this fraction of the rows for validation (0: none); the best epoch is kept")
                             ->capture_default_str()
                             ->group("Data");
  app.add_option("--valid-min-rows", o.valid_min_rows,
                 "...but hold out at least this many rows (at most a quarter of the data)")
      ->capture_default_str()
      ->group("Data")
      ->check(CLI::Range(0, 1 << 30));
  csv.add_input(app);

  auto* g = "Model";
  app.add_option("--hidden", o.architecture.hidden, "Width H of every hidden layer")->capture_default_str()->group(g)->check(CLI::Range(1, 65536));
  app.add_option("--x-layers", o.architecture.x_layers, "Layers of the x-branch")->capture_default_str()->group(g)->check(CLI::Range(1, 64));
  app.add_option("--y-layers", o.architecture.y_layers, "Layers of the y-branch")->capture_default_str()->group(g)->check(CLI::Range(1, 64));
  app.add_option("--residual-blocks", o.architecture.residual_blocks, "Residual blocks in the joint network")->capture_default_str()->group(g)->check(CLI::Range(0, 64));
  app.add_option("--components,-K", o.architecture.components, "Gaussian components K of the proposal")->capture_default_str()->group(g)->check(CLI::Range(1, 4096));
  app.add_option("--activation", activation, "relu, tanh or silu")->capture_default_str()->group(g);

  auto* t = "Training";
  app.add_option("--method", method, "nce, nce+ or ml-is")->capture_default_str()->group(t);
  app.add_option("--noise", noise, "Noise/proposal for the EBM: learned (the MDN) or gmm (mixture centred at y)")->capture_default_str()->group(t);
  app.add_option("--gmm-sigmas", gmm_sigmas, "Standard deviations of the gmm noise, in standardised units of y")->capture_default_str()->group(t);
  app.add_option("--nce-plus-beta", o.settings.nce_plus_beta, "NCE+ scale of the noise on the true target")->capture_default_str()->group(t);
  app.add_option("--epochs", epochs, "Passes over the training data, or auto (~6000 steps, 20..500 epochs)")->capture_default_str()->group(t);
  app.add_option("--batch-size", o.settings.batch_size, "Examples per mini-batch")->capture_default_str()->group(t)->check(CLI::Range(1, 1 << 20));
  app.add_option("--samples", o.settings.samples, "Noise samples M per example")->capture_default_str()->group(t)->check(CLI::Range(1, 1 << 20));
  app.add_option("--lr", o.settings.learning_rate, "Adam learning rate")->capture_default_str()->group(t)->check(ebm::cli::positive_number());
  app.add_option("--weight-decay", o.settings.weight_decay, "Decoupled weight decay (AdamW)")->capture_default_str()->group(t)->check(ebm::cli::non_negative_number());
  app.add_option("--schedule", schedule, "Learning-rate schedule: constant or cosine")->capture_default_str()->group(t)->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--early-stopping", o.settings.early_stopping, "Stop after N epochs without validation improvement (0: off)")->capture_default_str()->group(t)->check(ebm::cli::non_negative_number());
  app.add_option("--valid-samples", o.settings.valid_samples, "Proposal samples per row for the validation NLL")->capture_default_str()->group(t)->check(CLI::Range(2, 1 << 20));
  bool no_calibrate = false;
  app.add_flag("--no-calibrate", no_calibrate, "Do not fit a temperature f/T on the validation rows")->group(t);
  app.add_option("--seed", o.settings.seed, "Random seed (same seed, same result)")->capture_default_str()->group(t);

  auto* r = "Run";
  app.add_option("--checkpoint-every", o.checkpoint_every, "Write a resumable checkpoint to -m every N epochs (0: only at the end)")->capture_default_str()->group(r)->check(ebm::cli::non_negative_number());
  app.add_option("--resume", o.resume_path, "Continue training from a checkpoint written with --checkpoint-every or by an interrupted run (same data, options, seed)")->group(r);
  app.add_option("-j,--threads", o.settings.threads, "Worker threads (results do not depend on it)")->capture_default_str()->group(r)->check(CLI::Range(1, 1024));
  app.add_flag("-q,--quiet", quiet, "No progress output")->group(r);
  app.add_flag("-v,--verbose", verbose, "One line per epoch (loss, proposal and validation NLL, time)")->group(r);
  app.add_flag("--no-progress", no_progress, "No progress bar, even on a terminal")->group(r);
  app.add_option("--plot-history", o.plot_history_path, "Draw the training loss and validation NLL per epoch (SVG)")->group(r);

  return ebm::cli::run_main(program, app, argc, argv, [&] {
    // An explicit validation file replaces the default held-out fraction.
    if (!o.valid_path.empty() && valid_fraction->count() == 0) o.valid_fraction = 0.0;
    if (epochs != "auto") {
      double value = 0;
      if (!ebm::parse_number(epochs, value) || value < 1 || value > 1e6 || value != static_cast<int>(value)) {
        throw ebm::UsageError("--epochs must be a positive integer or auto, found '" + epochs + "'");
      }
      o.settings.epochs = static_cast<int>(value);
    }
    if (!features.empty()) o.features = ebm::cli::split_names(features, "--features");
    o.csv = csv.input();
    o.settings.objective = ebm::objective_from_name(method);
    o.settings.noise = ebm::noise_from_name(noise);
    o.settings.gmm_sigmas = ebm::parse_number_list(gmm_sigmas, "--gmm-sigmas");
    for (double s : o.settings.gmm_sigmas) {
      if (!(s > 0)) throw ebm::UsageError("--gmm-sigmas: every sigma must be positive");
    }
    if (o.settings.gmm_sigmas.size() > 64) throw ebm::UsageError("--gmm-sigmas: at most 64 components");
    if (!(o.settings.nce_plus_beta > 0)) throw ebm::UsageError("--nce-plus-beta must be positive");
    o.settings.cosine_schedule = schedule == "cosine";
    o.calibrate = !no_calibrate;
    o.architecture.activation = ebm::activation_from_name(activation);
    o.verbosity = quiet ? 0 : 1 + verbose;
    o.progress_bar = !quiet && !no_progress && isatty(STDERR_FILENO);
    o.log = &std::cerr;
    o.interrupt = &g_interrupted;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    // Progress goes to stderr; if whoever reads it goes away (ebm-train ... 2>&1 | head),
    // training carries on and still writes its checkpoint.
    std::signal(SIGPIPE, SIG_IGN);
    // Recorded without the output path: the same settings give the same checkpoint
    // wherever it is written, with any thread count (`ebm-train --config FILE -m NEW.json` reproduces it).
    {
      std::istringstream lines(ebm::cli::effective_config(app));
      std::string line;
      while (std::getline(lines, line)) {
        // Nor the options that cannot change the checkpoint (threads, output to the terminal).
        bool recorded = true;
        for (const char* key : {"model=", "resume=", "threads=", "quiet=", "verbose=", "no-progress=", "plot-history="}) {
          if (line.rfind(key, 0) == 0) recorded = false;
        }
        if (recorded) o.config += line + '\n';
      }
    }
    const ebm::TrainSummary summary = ebm::run_train(o);
    if (summary.interrupted) throw ebm::Interrupted("interrupted");
  });
}
