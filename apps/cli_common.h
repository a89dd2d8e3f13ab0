// Shared plumbing of the three executables: error reporting, exit codes, common options.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "ebm/csv.h"

namespace ebm::cli {

// Runs `body` and turns every failure into one line on stderr, "PROGRAM: error: ...",
// with exit code 2 for usage errors (including CLI11 parse errors) and 1 for
// data/model/numerical errors. Returns the process exit code.
int run_main(const std::string& program, CLI::App& app, int argc, char** argv,
             const std::function<void()>& body);

// Largest --config file read (an option file is a few lines; CLI11 would read any file whole).
constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;

// The message as one printable line: control bytes (a newline, ESC, a carriage return
// in a file name, a header or a checkpoint's feature name) shown as \xHH, cut after 4 KiB
// (printable_text of csv.h).
constexpr std::size_t kMaxMessageBytes = 4096;
std::string printable_message(const std::string& text);

// What the tools do on a fatal error and on SIGINT/SIGTERM/SIGHUP: std::bad_alloc (or any
// exception nobody catches) ends in a terminate handler that prints "PROGRAM: error: out
// of memory", removes the temporary output files and exits 1 without unwinding; the
// signals remove the temporary output files and then kill the process as usual. Called by
// run_main; ebm-train replaces the signal handlers while it trains.
void install_fatal_handlers(const std::string& program);
// `handler` for SIGINT, SIGTERM and SIGHUP (unless SIGHUP is ignored, as under nohup).
void install_signal_handler(void (*handler)(int));

// --seed: an integer in [0, 2^64 - 1], digits only.
CLI::Validator seed_value();

// The default of --na-values: "NA,N/A,NaN,nan,null,NULL".
std::string default_na_values();

// --delimiter/--tabs/--no-header/--na-values for input and --output-delimiter/--precision
// for output.
struct CsvFlags {
  std::string delimiter = ",";
  bool tabs = false;
  bool no_header = false;
  std::string na_values = default_na_values();
  std::string output_delimiter;
  int precision = 7;  // float arithmetic: 7 significant digits carry all the information
  void add_input(CLI::App& app);
  void add_output(CLI::App& app);
  CsvOptions input() const;
  CsvOptions output() const;  // defaults to the input delimiter
};

// -q/--quiet and -v/--verbose (repeatable), the same pair in every tool; giving both is a
// usage error (check()) rather than one silently winning.
struct Verbosity {
  bool quiet = false;
  int verbose = 0;
  void add(CLI::App& app, const std::string& group, const std::string& quiet_help, const std::string& verbose_help);
  void check() const;  // throws UsageError if both are given
};

// -v's closing line of ebm-predict and ebm-sample on stderr: "PROGRAM: N rows in S s (R rows/s)".
void print_rows_done(const std::string& program, std::size_t rows, std::chrono::steady_clock::time_point start);

// Splits "a,b,c" into names, without the spaces around each (-f "age, bmi") (empty items are a usage error).
std::vector<std::string> split_names(const std::string& text, const std::string& option);

std::string version_string(const std::string& program);

// The levels of --interval from its occurrences (texts): one occurrence, a comma-separated
// list; none, no levels. Given twice, a UsageError that says to list the levels once.
std::vector<double> interval_levels(const std::vector<std::string>& occurrences);

// Validators with short messages ("--lr: must be > 0, found 0"); CLI11's own number
// ranges print their bounds with 300 digits.
CLI::Validator positive_number();
CLI::Validator positive_number_or_auto();
CLI::Validator non_negative_number();

// The parsed options with their values (defaults included) in --config format.
std::string effective_config(const CLI::App& app);

}  // namespace ebm::cli
