// ebm-sample: draw samples from the energy-based model p(y|x) for each CSV row.
#include <chrono>
#include <iostream>

#include <unistd.h>

#include "cli_common.h"
#include "ebm/commands.h"
#include "ebm/thread_pool.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string program = "ebm-sample";
  CLI::App app{"Draw N approximate samples from p(y|x) for every row of a CSV file: importance\n"
               "resampling of proposal draws, optionally refined by Metropolis-adjusted Langevin steps.",
               program};
  app.footer(
      "Examples:\n"
      "  ebm-sample -m model.json data/bimodal_test.csv -n 100 -o samples.csv\n"
      "  ebm-sample -m model.json x.csv -n 1000 --langevin-steps 20 --seed 7\n"
      "Output columns: row (0-based input row), sample (0..N-1), [kept], then one column per target,\n"
      "then [outside_training].\n"
      "Exit: 0 ok, 1 data/model error, 2 usage error.");
  app.set_version_flag("--version", ebm::cli::version_string(program));
  app.get_formatter()->column_width(34);

  ebm::SampleOptions o;
  o.threads = ebm::hardware_threads();
  std::string keep;
  ebm::cli::CsvFlags csv;
  app.add_option("DATA", o.data_path, "Input CSV file, or - for standard input (default)")->capture_default_str()->group("Data");
  app.add_option("-m,--model", o.model_path, "Checkpoint written by ebm-train")->required()->group("Data");
  app.add_option("-o,--output", o.output_path, "Output CSV file, or - for standard output")->capture_default_str()->group("Data");
  app.add_option("--keep", keep, "Comma-separated input columns to copy to the output")->group("Data");
  csv.add_input(app);
  csv.add_output(app);
  auto* s = "Sampling";
  app.add_option("-n,--draws", o.draws, "Samples per input row")->required()->group(s)->check(CLI::Range(1, 1 << 24));
  app.add_option("--proposal-samples", o.proposal_samples, "Proposal draws to resample from (default max(1024, 4N))")->group(s)->check(CLI::Range(0, 1 << 24));
  app.add_option("--langevin-steps", o.langevin_steps, "MALA refinement steps per sample")->capture_default_str()->group(s)->check(CLI::Range(0, 100000));
  app.add_option("--langevin-step", o.langevin_step, "MALA step size (standardised units of y)")->capture_default_str()->group(s)->check(ebm::cli::positive_number());
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str()->group(s)->check(ebm::cli::seed_value());
  app.add_flag("--flag-extrapolation", o.flag_extrapolation, "Add outside_training: the row's features outside the training range")->group(s);
  app.add_flag("--on-lattice", o.on_lattice, "For a target on a lattice (integers, a fixed step): draws on its points (draws of the cell probabilities)")->group(s);
  app.add_option("-j,--threads", o.threads, "Worker threads (results do not depend on it)")->capture_default_str()->group("Run")->check(CLI::Range(1, 1024));
  ebm::cli::Verbosity verbosity;
  verbosity.add(app, "Run", "No progress line (shown only when stderr is a terminal) and no warnings about the input",
                "At the end, one line on stderr: rows, time, rows per second");

  return ebm::cli::run_main(program, app, argc, argv, [&] {
    if (!keep.empty()) o.keep = ebm::cli::split_names(keep, "--keep");
    o.csv = csv.input();
    o.output_csv = csv.output();
    o.precision = csv.precision;
    verbosity.check();
    if (!verbosity.quiet && isatty(STDERR_FILENO)) o.progress = &std::cerr;
    if (!verbosity.quiet) o.warnings = &std::cerr;
    const auto start = std::chrono::steady_clock::now();
    const std::size_t rows = ebm::run_sample(o);
    if (verbosity.verbose > 0) ebm::cli::print_rows_done(program, rows, start);
  });
}
