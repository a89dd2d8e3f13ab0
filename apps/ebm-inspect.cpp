// ebm-inspect: what a trained model holds and, given data, which features it relies on.
#include <iostream>

#include "cli_common.h"
#include "ebm/commands.h"
#include "ebm/thread_pool.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string program = "ebm-inspect";
  CLI::App app{"Describe a checkpoint written by ebm-train: its features and targets (kind, training\n"
               "statistics and ranges), architecture, training settings, history and calibration. Given\n"
               "DATA with the target columns, also the permutation importance of each feature: how much\n"
               "the mean NLL of DATA increases when that feature's column is shuffled.",
               program};
  app.footer(
      "Examples:\n"
      "  ebm-inspect model.json\n"
      "  ebm-inspect model.json data/bimodal_test.csv --repeats 3\n"
      "  ebm-inspect model.json test.csv --json > report.json\n"
      "Output: the report on standard output (text, or JSON with --json).\n"
      "Exit: 0 ok, 1 data/model error, 2 usage error.");
  app.set_version_flag("--version", ebm::cli::version_string(program));
  app.get_formatter()->column_width(34);

  ebm::InspectOptions o;
  o.threads = ebm::hardware_threads();
  bool json = false;
  ebm::cli::CsvFlags csv;
  app.add_option("MODEL", o.model_path, "Checkpoint written by ebm-train")->required()->group("Data");
  app.add_option("DATA", o.data_path, "CSV file with the features and targets (or - for standard input) for permutation importance")->group("Data");
  csv.add_input(app);
  auto* i = "Importance";
  app.add_option("--samples", o.samples, "Proposal samples M per row for the NLL (as ebm-predict)")->capture_default_str()->group(i)->check(CLI::Range(2, 1 << 22));
  app.add_option("--repeats", o.repeats, "Shuffles per feature (the mean increase, and its sd when > 1)")->capture_default_str()->group(i)->check(CLI::Range(1, 1000));
  app.add_option("--seed", o.seed, "Random seed (proposal draws and shuffles)")->capture_default_str()->group(i);
  app.add_flag("--json", json, "Write the report as JSON")->group("Output format");
  app.add_option("-j,--threads", o.threads, "Worker threads (results do not depend on it)")->capture_default_str()->group("Run")->check(CLI::Range(1, 1024));

  return ebm::cli::run_main(program, app, argc, argv, [&] {
    o.csv = csv.input();
    const nlohmann::ordered_json report = ebm::run_inspect(o);
    if (json) {
      std::cout << report.dump(2) << '\n';
    } else {
      std::cout << ebm::inspect_text(report);
    }
  });
}
