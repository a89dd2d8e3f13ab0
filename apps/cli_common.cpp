#include "cli_common.h"

#include <iostream>
#include <new>
#include <sstream>

#include "ebm/errors.h"
#include "ebm/thread_pool.h"

namespace ebm::cli {

namespace {
CLI::Validator number_check(bool strictly_positive) {
  return CLI::Validator(
      [strictly_positive](std::string& text) -> std::string {
        double value = 0;
        if (!parse_number(text, value)) return "expected a number, found '" + text + "'";
        if (strictly_positive ? !(value > 0) : !(value >= 0)) {
          return std::string(strictly_positive ? "must be > 0" : "must be >= 0") + ", found " + text;
        }
        return "";
      },
      strictly_positive ? "NUMBER > 0" : "NUMBER >= 0");
}
}  // namespace

CLI::Validator positive_number() { return number_check(true); }
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
  bool print_config = false;
  try {
    app.set_config("--config", "", "Read options from FILE (TOML: key = value with the long option names); options on the command line win")
        ->type_name("FILE")
        ->group("Configuration");
    app.allow_config_extras(CLI::config_extras_mode::error);
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
    } else if (const auto at = message.find(" was not readable (missing?)"); at != std::string::npos) {
      message = message.substr(0, at) + ": cannot read the configuration file";
    }
    std::cerr << program << ": error: " << message << " (see " << program << " --help)\n";
    return 2;
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
    std::cerr << program << ": error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::cerr << program << ": error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  }
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

std::vector<std::string> split_names(const std::string& text, const std::string& option) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) throw UsageError(option + ": empty column name in '" + text + "'");
    out.push_back(item);
  }
  if (out.empty()) throw UsageError(option + ": expected a comma-separated list of column names");
  return out;
}

std::string version_string(const std::string& program) {
  return program + " (ebm) " + EBM_VERSION;
}

}  // namespace ebm::cli
