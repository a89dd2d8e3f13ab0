#include "cli_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iomanip>
#include <iostream>
#include <new>
#include <sstream>
#include <stdexcept>

#include "ebm/errors.h"
#include "ebm/output_file.h"
#include "ebm/thread_pool.h"

namespace ebm::cli {

namespace {
CLI::Validator number_check(bool strictly_positive, bool or_auto = false) {
  const std::string auto_text = or_auto ? " or auto" : "";
  return CLI::Validator(
      [strictly_positive, or_auto, auto_text](std::string& text) -> std::string {
        if (or_auto && text == "auto") return "";
        double value = 0;
        if (!parse_number(text, value)) return "expected a number" + auto_text + ", found '" + text + "'";
        if (strictly_positive ? !(value > 0) : !(value >= 0)) {
          return std::string(strictly_positive ? "must be > 0" : "must be >= 0") + auto_text + ", found " + text;
        }
        return "";
      },
      std::string(strictly_positive ? "NUMBER > 0" : "NUMBER >= 0") + (or_auto ? "|auto" : ""));
}
// Levenshtein distance, for suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The long option closest to `name` (a prefix of it, or at most a third of its letters
// off), or "" if none is close.
std::string closest_option(const CLI::App& app, const std::string& name) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& candidate : option->get_lnames()) {
      const std::size_t distance = candidate.rfind(name, 0) == 0 ? 1 : edit_distance(name, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
  }
  return best.empty() ? "" : "--" + best;
}

// CLI11 reports an unknown option with everything it could not place ("The following
// arguments were not expected: 5 --epoch"); this names the first unknown option alone and
// the option probably meant. "" if every option on the command line is known.
std::string unknown_option_message(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) == 0) {
      const std::string name = arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
      bool known = false;
      for (const CLI::Option* option : app.get_options()) known = known || option->check_lname(name);
      if (known) continue;
      const std::string suggestion = closest_option(app, name);
      return "unknown option '--" + name + "'" + (suggestion.empty() ? "" : " (did you mean " + suggestion + "?)");
    }
    if (arg.size() >= 2 && arg[0] == '-' && std::isalpha(static_cast<unsigned char>(arg[1]))) {
      bool known = false;
      for (const CLI::Option* option : app.get_options()) known = known || option->check_sname(arg.substr(1, 1));
      if (!known) return "unknown option '" + arg.substr(0, 2) + "'";
    }
  }
  return "";
}

}  // namespace

namespace {

// The program's name for the handlers below, which must not allocate.
char g_program[64] = "ebm";

void write_stderr(const char* text) {
  std::size_t n = std::strlen(text);
  while (n > 0) {
    const ssize_t written = ::write(STDERR_FILENO, text, n);
    if (written <= 0) return;
    text += written;
    n -= static_cast<std::size_t>(written);
  }
}

// A fatal error (std::bad_alloc, or any exception no one catches) ends here, without
// unwinding: one line, the temporary outputs removed, exit 1. Unwinding is exactly what
// must not happen after an allocation failure inside Eigen (thread_pool.cpp, drain()).
[[noreturn]] void on_terminate() {
  static std::atomic<bool> entered{false};
  if (entered.exchange(true)) {
    for (;;) pause();  // another thread is already reporting; it ends the process
  }
  remove_temporary_outputs();
  const char* what = "internal error (terminate)";
  std::string text;  // only for errors other than out-of-memory
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
      what = "out of memory";
    } catch (const std::exception& other) {
      text = printable_message(other.what());
      what = text.c_str();
    } catch (...) {
    }
  }
  write_stderr(g_program);
  write_stderr(": error: ");
  write_stderr(what);
  write_stderr("\n");
  _exit(1);
}

// CLI11 2.1 cuts a configuration line at the first '#', even inside quotes: a recorded
// DATA="my data #1.csv" came back as "my data". This reader removes only comments that
// start outside quotes (as TOML says), then lets CLI11 parse what is left.
class QuotedHashConfig : public CLI::ConfigTOML {
 public:
  QuotedHashConfig() { comment('\0'); }  // CLI11's own comment cutting: never
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text, line;
    while (std::getline(input, line)) text += without_comment(line) + '\n';
    std::istringstream clean(text);
    return CLI::ConfigTOML::from_config(clean);
  }

 private:
  static std::string without_comment(const std::string& line) {
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"' && i + 1 < line.size()) {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#') {
        return line.substr(0, i);
      }
    }
    return line;
  }
};

// SIGINT, SIGTERM or SIGHUP outside ebm-train's training loop: remove the temporary
// outputs, then die of the signal as if it had not been caught.
extern "C" void on_fatal_signal(int signal_number) {
  remove_temporary_outputs();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// --config FILE must be a regular file of reasonable size: CLI11 reads any file whole
// (--config /dev/zero read 2 GB, then ignored it).
void check_config_file(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string path;
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[i + 1];
    } else if (arg.rfind("--config=", 0) == 0) {
      path = arg.substr(9);
    } else {
      continue;
    }
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) continue;  // CLI11 reports a missing file
    if (!S_ISREG(info.st_mode)) throw UsageError(path + ": --config needs a regular file");
    if (info.st_size > static_cast<off_t>(kMaxConfigBytes)) {
      throw UsageError(path + ": --config file larger than " + std::to_string(kMaxConfigBytes) +
                       " bytes (an option file is a few lines)");
    }
  }
}

}  // namespace

std::string printable_message(const std::string& text) { return printable_text(text, kMaxMessageBytes); }

void install_fatal_handlers(const std::string& program) {
  std::snprintf(g_program, sizeof g_program, "%s", program.c_str());
  std::set_terminate(on_terminate);
  install_signal_handler(on_fatal_signal);
}

void install_signal_handler(void (*handler)(int)) {
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
  // A hangup that was ignored at start (nohup) stays ignored.
  struct sigaction previous {};
  if (sigaction(SIGHUP, nullptr, &previous) == 0 && previous.sa_handler != SIG_IGN) std::signal(SIGHUP, handler);
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        // Digits only, at most 2^64 - 1: CLI11 read -1 and 2^64 both as 2^64 - 1.
        bool digits = !text.empty() && text.size() <= 20;
        for (char c : text) digits = digits && c >= '0' && c <= '9';
        if (digits && (text.size() < 20 || text <= "18446744073709551615")) return "";
        return "expected an integer from 0 to 18446744073709551615, found '" + text + "'";
      },
      "");
}

CLI::Validator positive_number() { return number_check(true); }
CLI::Validator positive_number_or_auto() { return number_check(true, true); }
CLI::Validator non_negative_number() { return number_check(false); }

std::string effective_config(const CLI::App& app) {
  // Every option with its value (defaults included) in CLI11's TOML-like format, without
  // the lines that only steer the program itself.
  std::istringstream all(app.config_to_str(true, false));
  std::string out, line;
  while (std::getline(all, line)) {
    if (line.rfind("config=", 0) == 0 || line.rfind("print-config=", 0) == 0 || line.rfind("help=", 0) == 0 ||
        line.rfind("version=", 0) == 0) {
      continue;
    }
    // An option left unset without a printable default (an optional --interval, an empty
    // path) is omitted: read back, "" would be an invalid value rather than "not given".
    if (line.size() >= 3 && (line.compare(line.size() - 3, 3, "=\"\"") == 0 || line.compare(line.size() - 3, 3, "=''") == 0)) {
      continue;
    }
    out += line + '\n';
  }
  return out;
}

int run_main(const std::string& program, CLI::App& app, int argc, char** argv,
             const std::function<void()>& body) {
  configure_allocator();  // process-wide malloc settings: the program's choice, not the library's
  install_fatal_handlers(program);
  bool print_config = false;
  try {
    check_config_file(argc, argv);
    app.set_config("--config", "", "Read options from FILE (TOML: key = value with the long option names); options on the command line win")
        ->type_name("FILE")
        ->group("Configuration");
    app.allow_config_extras(CLI::config_extras_mode::error);
    app.config_formatter(std::make_shared<QuotedHashConfig>());
    app.add_flag("--print-config", print_config, "Print the effective options in --config format and exit")
        ->group("Configuration");
    app.parse(argc, argv);
    if (print_config) {
      std::cout << effective_config(app);
      std::cout.flush();
      return std::cout ? 0 : 1;
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // help goes to stdout with exit 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // CLI11's wording for configuration files names neither the file nor the problem well.
    const std::string config_path = app.get_option("--config")->as<std::string>();
    const std::string unknown = "INI was not able to parse ";
    if (message.rfind(unknown, 0) == 0) {
      message = config_path + ": unknown option '" + message.substr(unknown.size()) + "'";
    } else if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
      const std::string unknown_option = unknown_option_message(app, argc, argv);
      if (!unknown_option.empty()) message = unknown_option;
    } else if (const auto at = message.find(" was not readable (missing?)"); at != std::string::npos) {
      message = message.substr(0, at) + ": cannot read the configuration file";
    }
    std::cerr << program << ": error: " << printable_message(message) << " (see " << program << " --help)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << program << ": error: " << printable_message(e.what()) << "\n";
    return e.exit_code();
  }
  try {
    body();
    std::cout.flush();
    if (!std::cout) {
      std::cerr << program << ": error: cannot write to standard output\n";
      return 1;
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << program << ": error: " << printable_message(e.what()) << "\n";
    return e.exit_code();
  } catch (const std::runtime_error& e) {
    std::cerr << program << ": error: " << printable_message(e.what()) << "\n";
    return 1;
  } catch (const std::logic_error& e) {
    std::cerr << program << ": error: " << printable_message(e.what()) << "\n";
    return 1;
  }
  // Not caught: std::bad_alloc (and anything else), which ends in on_terminate without
  // unwinding (see there).
}

void CsvFlags::add_input(CLI::App& app) {
  app.add_option("--delimiter", delimiter, "Field delimiter of the input (one character)")
      ->group("Input format")
      ->default_val(",");
  app.add_flag("--tabs", tabs, "Input is tab-separated (same as --delimiter $'\\t')")->group("Input format");
  app.add_flag("--no-header", no_header, "Input has no header row; columns are named 1, 2, 3, ...")
      ->group("Input format");
  app.add_option("--na-values", na_values,
                 "Comma-separated cells that mean a missing value, besides the empty cell ('' for none)")
      ->group("Input format")
      ->capture_default_str();
}

std::string default_na_values() {
  std::string joined;
  for (const std::string& token : kDefaultNaValues) joined += (joined.empty() ? "" : ",") + token;
  return joined;
}

void CsvFlags::add_output(CLI::App& app) {
  app.add_option("--output-delimiter", output_delimiter, "Field delimiter of the output (default: the input's)")
      ->group("Output format");
  app.add_option("--precision", precision,
                 "Significant digits of output numbers (0: shortest form that round-trips)")
      ->group("Output format")
      ->capture_default_str()
      ->check(CLI::Range(0, 17));
}

static char single_char(const std::string& text, const std::string& option) {
  if (text == "\\t" || text == "tab") return '\t';
  if (text.size() != 1) throw UsageError(option + " must be a single character, found '" + text + "'");
  if (text[0] == '"' || text[0] == '\n' || text[0] == '\r') throw UsageError(option + " cannot be a quote or newline");
  return text[0];
}

CsvOptions CsvFlags::input() const {
  CsvOptions o;
  o.delimiter = tabs ? '\t' : single_char(delimiter, "--delimiter");
  o.header = !no_header;
  o.na_values.clear();
  std::stringstream tokens(na_values);
  for (std::string token; std::getline(tokens, token, ',');) {
    if (!token.empty()) o.na_values.push_back(token);
  }
  return o;
}

CsvOptions CsvFlags::output() const {
  CsvOptions o = input();
  o.header = true;
  if (!output_delimiter.empty()) o.delimiter = single_char(output_delimiter, "--output-delimiter");
  return o;
}

void Verbosity::add(CLI::App& app, const std::string& group, const std::string& quiet_help,
                    const std::string& verbose_help) {
  app.add_flag("-q,--quiet", quiet, quiet_help)->group(group);
  app.add_flag("-v,--verbose", verbose, verbose_help)->group(group);
}

void Verbosity::check() const {
  // Checked on the values, not with CLI11's excludes(): --print-config writes both keys
  // (quiet=false, verbose=0), and reading such a file back must not count as giving both.
  if (quiet && verbose > 0) throw UsageError("-q/--quiet and -v/--verbose cannot be used together");
}

void print_rows_done(const std::string& program, std::size_t rows, std::chrono::steady_clock::time_point start) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream line;
  line << program << ": " << rows << " rows in " << std::fixed << std::setprecision(2) << seconds << " s ("
       << static_cast<long>(static_cast<double>(rows) / std::max(seconds, 1e-9)) << " rows/s)\n";
  std::cerr << line.str();
}

std::vector<std::string> split_names(const std::string& text, const std::string& option) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    // Spaces after the commas are a list's usual typing, as --quantiles accepts them.
    const auto first = item.find_first_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    if (item.empty()) throw UsageError(option + ": empty column name in '" + text + "'");
    out.push_back(item);
  }
  if (out.empty()) throw UsageError(option + ": expected a comma-separated list of column names");
  return out;
}

std::vector<double> interval_levels(const std::vector<std::string>& occurrences) {
  if (occurrences.empty()) return {};
  if (occurrences.size() > 1) {
    throw UsageError("--interval is given " + std::to_string(occurrences.size()) +
                     " times; list the levels once, comma-separated, e.g. --interval 0.5,0.9");
  }
  std::vector<double> levels;
  std::stringstream stream(occurrences[0]);
  std::string item;
  while (std::getline(stream, item, ',')) {
    double level = 0;
    if (!parse_number(item, level)) {
      throw UsageError("--interval: each level must be a probability in (0, 1), found '" + item + "'");
    }
    levels.push_back(level);
  }
  if (levels.empty()) throw UsageError("--interval: expected one or more levels in (0, 1), e.g. 0.9 or 0.5,0.9");
  return levels;
}

std::string version_string(const std::string& program) {
  return program + " (ebm) " + EBM_VERSION;
}

}  // namespace ebm::cli
