// ebm-predict: predictive distributions p(y|x) of a trained model for each CSV row.
#include <chrono>
#include <iostream>

#include <unistd.h>

#include "cli_common.h"
#include "ebm/commands.h"
#include "ebm/thread_pool.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string program = "ebm-predict";
  CLI::App app{"Predict p(y|x) for every row of a CSV file with a trained model: mean and spread by\n"
               "self-normalised importance sampling with the learned proposal, intervals, quantiles,\n"
               "the mode, log-densities, and metrics when the targets are present.",
               program};
  app.footer(
      "Examples:\n"
      "  ebm-predict -m model.json data/bimodal_test.csv --interval 0.9 -o pred.csv\n"
      "  ebm-predict -m model.json test.csv --quantiles 0.05,0.5,0.95 --mode --keep id\n"
      "  ebm-predict -m model.json test.csv --interval 0.5,0.9 --metrics metrics.json -o pred.csv\n"
      "  cat test.csv | ebm-predict -m model.json --logpdf --metrics metrics.json > pred.csv\n"
      "  ebm-predict -m model.json data/bimodal_test.csv --plot density.svg --report calibration.svg -o pred.csv\n"
      "Output columns: [kept], then per target T: T_mean T_std [T_lo T_hi, or T_lo<P> T_hi<P> per level]\n"
      "[T_q<level>...] [T_mode],\n"
      "then [log_density] [ess] [outside_training]. Densities are in the original units of y.\n"
      "Exit: 0 ok, 1 data/model error, 2 usage error.");
  app.set_version_flag("--version", ebm::cli::version_string(program));
  app.get_formatter()->column_width(34);

  ebm::PredictOptions o;
  o.threads = ebm::hardware_threads();
  std::vector<std::string> intervals;  // one text per --interval given (a second is refused with a message)
  std::string quantiles, keep;
  ebm::cli::CsvFlags csv;
  app.add_option("DATA", o.data_path, "Input CSV file, or - for standard input (default)")->capture_default_str()->group("Data");
  app.add_option("-m,--model", o.model_path, "Checkpoint written by ebm-train")->required()->group("Data");
  app.add_option("-o,--output", o.output_path, "Output CSV file, or - for standard output")->capture_default_str()->group("Data");
  app.add_option("--keep", keep, "Comma-separated input columns to copy to the output")->group("Data");
  csv.add_input(app);
  csv.add_output(app);

  auto* p = "Prediction";
  app.add_option("--samples", o.samples, "Proposal samples M per row")->capture_default_str()->group(p)->check(CLI::Range(2, 1 << 22));
  app.add_option("--interval", intervals, "Add T_lo/T_hi, the central interval of probability P; several comma-separated levels add T_lo<P>/T_hi<P> for each")
      ->type_name("P[,P...]")
      ->allow_extra_args(false)
      ->group(p);
  auto* quantiles_option = app.add_option("--quantiles", quantiles, "Add T_q<level> for each comma-separated level in (0,1)")->group(p);
  app.add_flag("--mode", o.mode, "Add T_mode: gradient ascent on f from the best proposal sample")->group(p);
  app.add_option("--mode-steps", o.mode_steps, "Gradient-ascent steps for --mode")->capture_default_str()->group(p);
  app.add_flag("--logpdf", o.logpdf, "Add log_density: estimate of log p(y|x) at the row's targets")->group(p);
  app.add_flag("--ess", o.ess, "Add ess: effective sample size of the importance weights")->group(p);
  app.add_flag("--flag-extrapolation", o.flag_extrapolation, "Add outside_training: the row's features outside the training range")->group(p);
  app.add_flag("--on-lattice", o.on_lattice, "For a target on a lattice (integers, a fixed step): intervals, quantiles and mode on its points (the quantiles of the cell probabilities)")->group(p);
  app.add_option("--metrics", o.metrics_path, "Write NLL, RMSE, MAE, CRPS, coverage and PIT to this JSON file")->group(p);
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str()->group(p)->check(ebm::cli::seed_value());
  auto* pictures = "Pictures";
  app.add_option("--plot", o.plot_path, "Draw p(y|x) as a heat map with the mean, the interval and the data (SVG; one feature, one target)")->group(pictures);
  app.add_option("--report", o.report_path, "Draw the calibration curve and the PIT histogram (SVG; needs the targets)")->group(pictures);
  auto* r = "Run";
  app.add_option("-j,--threads", o.threads, "Worker threads (results do not depend on it)")->capture_default_str()->group(r)->check(CLI::Range(1, 1024));
  ebm::cli::Verbosity verbosity;
  verbosity.add(app, "Run", "No progress line (shown only when stderr is a terminal) and no warnings about the input",
                "At the end, one line on stderr: rows, time, rows per second");

  return ebm::cli::run_main(program, app, argc, argv, [&] {
    o.intervals = ebm::cli::interval_levels(intervals);
    if (quantiles_option->count() > 0) o.quantiles = ebm::parse_number_list(quantiles, "--quantiles");
    if (!keep.empty()) o.keep = ebm::cli::split_names(keep, "--keep");
    o.csv = csv.input();
    o.output_csv = csv.output();
    o.precision = csv.precision;
    verbosity.check();
    if (!verbosity.quiet && isatty(STDERR_FILENO)) o.progress = &std::cerr;
    if (!verbosity.quiet) o.warnings = &std::cerr;
    const auto start = std::chrono::steady_clock::now();
    const std::size_t rows = ebm::run_predict(o).rows;
    if (verbosity.verbose > 0) ebm::cli::print_rows_done(program, rows, start);
  });
}
